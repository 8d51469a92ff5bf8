//! The library's top-level modules form a DAG: a module never reaches, through `crate::`
//! paths, a module that reaches it back. Fails on any cycle and prints the layers top-down
//! (`cargo test -p haul --test module_graph -- --nocapture`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Top-level module of each `.rs` file under `src/` (`lib.rs` has none).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib").then(|| name.to_owned())
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The `crate::name` and `crate::{a, b}` references in `code`, comments left out.
fn references(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or("");
        for (i, _) in line.match_indices("crate::") {
            let rest = &line[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let group = group.split('}').next().unwrap_or("");
                found.extend(group.split(',').map(|p| ident(p.trim())));
            } else {
                found.insert(ident(rest));
            }
        }
    }
    found
}

fn ident(s: &str) -> String {
    s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(&src, f)).collect();
    let mut graph: Graph = modules.iter().map(|m| (m.clone(), BTreeSet::new())).collect();
    for file in &files {
        let Some(from) = module_of(&src, file) else { continue };
        let code = std::fs::read_to_string(file).unwrap();
        let deps = references(&code).into_iter().filter(|m| modules.contains(m) && *m != from);
        graph.get_mut(&from).unwrap().extend(deps);
    }
    graph
}

/// A cycle in `graph`, if it has one (depth-first search with an on-path set).
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(g: &Graph, m: &str, path: &mut Vec<String>, done: &mut BTreeSet<String>) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == m) {
            let mut cycle = path[at..].to_vec();
            cycle.push(m.to_owned());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_owned());
        for dep in &g[m] {
            if let Some(c) = visit(g, dep, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|m| visit(graph, m, &mut Vec::new(), &mut done))
}

/// Layers bottom-up: a module's layer is one above the highest of its dependencies.
fn layers(graph: &Graph) -> BTreeMap<usize, Vec<String>> {
    fn depth(g: &Graph, m: &str, memo: &mut BTreeMap<String, usize>) -> usize {
        if let Some(d) = memo.get(m) {
            return *d;
        }
        let d = g[m].iter().map(|dep| depth(g, dep, memo) + 1).max().unwrap_or(0);
        memo.insert(m.to_owned(), d);
        d
    }
    let mut memo = BTreeMap::new();
    let mut out: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for m in graph.keys() {
        out.entry(depth(graph, m, &mut memo)).or_default().push(m.clone());
    }
    out
}

#[test]
fn the_library_modules_form_a_dag() {
    let graph = graph();
    assert!(graph.len() > 10, "found the modules: {:?}", graph.keys());
    if let Some(cycle) = find_cycle(&graph) {
        panic!("module cycle: {}", cycle.join(" -> "));
    }
    for (layer, modules) in layers(&graph).iter().rev() {
        println!("{layer} {}", modules.join(", "));
    }
}

#[test]
fn the_check_finds_a_cycle_it_is_given() {
    let edge = |a: &str, b: &str| (a.to_owned(), BTreeSet::from([b.to_owned()]));
    let cyclic: Graph =
        [edge("db", "migrate"), edge("migrate", "db"), ("job".into(), BTreeSet::new())].into();
    assert_eq!(find_cycle(&cyclic), Some(vec!["db".into(), "migrate".into(), "db".into()]));
    assert_eq!(
        references("use crate::{db::Db, job::JobState};\n// crate::worker\nlet x = crate::fetch::f();"),
        BTreeSet::from(["db".into(), "job".into(), "fetch".into()])
    );
}
