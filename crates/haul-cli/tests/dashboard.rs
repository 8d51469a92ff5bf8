//! `haul dashboard`: a non-loopback bind without auth is a usage error (exit 2) that reaches
//! no database; without auth it answers only loopback host names; with a token it serves,
//! asks for credentials, and in `--read-only` mode draws no action.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

/// A running `haul dashboard`, killed when dropped.
struct Served {
    child: Child,
    addr: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `haul dashboard ARGS...` with `env`, and reads the address it serves from its
/// first line on stderr.
fn serve(args: &[&str], env: &[(&str, &str)]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_haul"))
        .arg("--database-url")
        .arg(database_url())
        .arg("dashboard")
        .args(args)
        .env_remove("HAUL_DASHBOARD_TOKEN")
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the haul binary runs");
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.split("http://").nth(1).and_then(|r| r.split('/').next()).unwrap_or_default().to_owned();
    assert!(!addr.is_empty(), "no address in {line:?}");
    Served { child, addr }
}

/// `GET path` with `headers`; the status code and the body.
fn get(addr: &str, path: &str, headers: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let status = answer.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, answer)
}

#[test]
fn a_non_loopback_bind_without_auth_is_refused_before_connecting() {
    let out = haul_at("postgres://nobody@127.0.0.1:1/none", &["dashboard", "--bind", "0.0.0.0:0"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("refusing to serve the dashboard on 0.0.0.0:0 without auth"), "{stderr}");
    assert!(stderr.contains("HAUL_DASHBOARD_TOKEN"), "the message says how to fix it: {stderr}");
}

#[test]
fn with_a_token_it_serves_read_only_behind_credentials() {
    let schema = unique("haul_cli_dashboard");
    let _cleanup = DropSchema(schema.clone());
    migrate(&schema);
    let served = serve(
        &["--schema", &schema, "--bind", "0.0.0.0:0", "--read-only"],
        &[("HAUL_DASHBOARD_TOKEN", "t0ken")],
    );
    let addr = served.addr.replace("0.0.0.0", "127.0.0.1");
    let (status, _) = get(&addr, "/queues", "");
    assert_eq!(status, 401);
    let (status, page) = get(&addr, "/queues", "Authorization: Bearer t0ken\r\n");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("read-only") && !page.contains(r#"method="post""#), "{page}");
    assert!(page.to_ascii_lowercase().contains("content-security-policy: default-src 'none'"), "{page}");
}

#[test]
fn without_auth_it_answers_only_loopback_host_names() {
    let schema = unique("haul_cli_dashboard_hosts");
    let _cleanup = DropSchema(schema.clone());
    migrate(&schema);
    let served = serve(&["--schema", &schema, "--bind", "127.0.0.1:0"], &[]);
    let (status, page) = get(&served.addr, "/", "");
    assert_eq!(status, 200, "{page}");
    let mut s = TcpStream::connect(&served.addr).unwrap();
    write!(s, "GET / HTTP/1.1\r\nHost: rebound.example:8080\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 421"), "{answer}");
}
