//! Inserting a batch with unique keys: the rows sent sorted by key (concurrent batches then take
//! the keys in one order and cannot deadlock) and each key once, then every job's outcome
//! (inserted, or the id of the job that holds its key) in the caller's order.

use crate::db::{InsertBatch, UniqueIds};
use crate::error::{Error, Result};
use std::collections::HashMap;

/// One job's result: the job's id, and whether its unique key was taken (the id is then the
/// existing job's, and nothing was inserted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Inserted {
    /// The new job's id, or the existing job's when `duplicate`.
    pub id: i64,
    /// True when the key was taken and nothing was inserted.
    pub duplicate: bool,
}

/// The batch as sent, and where each of the caller's jobs went.
pub(crate) struct UniquePlan {
    pub sent: InsertBatch,
    /// For each job in the caller's order: its row in `sent`, and whether an earlier job of the
    /// batch has its key.
    slots: Vec<(usize, bool)>,
}

/// Sorts by key (jobs without one first) and sends each key once, moving the rows out of
/// `batch` rather than copying them, or sending `batch` itself when it already is so.
pub(crate) fn plan(mut batch: InsertBatch) -> UniquePlan {
    let mut order: Vec<usize> = (0..batch.len()).collect();
    order.sort_by(|&a, &b| {
        let key = |i: usize| (&batch.unique_keys[i], batch.unique_periods_s[i]);
        key(a).cmp(&key(b)).then(a.cmp(&b))
    });
    let mut slots = vec![(0, false); batch.len()];
    let mut rows: Vec<usize> = Vec::with_capacity(batch.len());
    let key = |i: usize| batch.unique_keys[i].as_deref().map(|k| (k, batch.unique_periods_s[i]));
    for i in order {
        // sorted by key: a job whose key the previous sent row has repeats it
        match rows.last() {
            Some(&prev) if key(i).is_some() && key(i) == key(prev) => slots[i] = (rows.len() - 1, true),
            _ => {
                slots[i] = (rows.len(), false);
                rows.push(i);
            }
        }
    }
    let in_order = rows.len() == batch.len() && rows.iter().enumerate().all(|(i, &row)| i == row);
    let sent = if in_order { batch } else { batch.take_rows(&rows) };
    UniquePlan { sent, slots }
}

impl UniquePlan {
    /// Every job's outcome in the caller's order, from the statement's result.
    pub(crate) fn outcomes(&self, result: UniqueIds) -> Result<Vec<Inserted>> {
        let taken = self.taken_rows(&result)?;
        let mut inserted = result.ids.into_iter();
        let mut rows = Vec::with_capacity(self.sent.len());
        for row in 0..self.sent.len() {
            let outcome = match taken.get(&row) {
                Some(&id) => Inserted { id, duplicate: true },
                None => Inserted { id: inserted.next().ok_or_else(mismatch)?, duplicate: false },
            };
            rows.push(outcome);
        }
        Ok(self
            .slots
            .iter()
            .map(|&(row, again)| Inserted { duplicate: rows[row].duplicate || again, ..rows[row] })
            .collect())
    }

    /// The sent rows whose key was taken, with the holding job's id. A stored key is the sent
    /// key, or with a period the sent key then `@<period>:<number>`.
    fn taken_rows(&self, result: &UniqueIds) -> Result<HashMap<usize, i64>> {
        if result.duplicates.is_empty() {
            return Ok(HashMap::new());
        }
        let mut by_key: HashMap<String, usize> = HashMap::new();
        for row in 0..self.sent.len() {
            if let Some(key) = &self.sent.unique_keys[row] {
                let stored = match self.sent.unique_periods_s[row] {
                    Some(p) => format!("{key}@{p}"),
                    None => key.clone(),
                };
                by_key.insert(stored, row);
            }
        }
        let mut taken = HashMap::new();
        for (id, stored) in result.duplicates.iter().zip(&result.duplicate_keys) {
            let row = by_key
                .get(stored)
                .or_else(|| stored.rsplit_once(':').and_then(|(base, _)| by_key.get(base)))
                .ok_or_else(mismatch)?;
            taken.insert(*row, *id);
        }
        Ok(taken)
    }
}

fn mismatch() -> Error {
    Error::Database(sqlx::Error::Protocol(
        "the unique insert returned rows that do not match its batch".into(),
    ))
}
