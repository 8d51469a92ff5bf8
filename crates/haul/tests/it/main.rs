//! Integration tests against the real PostgreSQL: each test in a schema of its own, so they
//! run in parallel; they wait on worker events, never on sleeps.

mod common;
mod jobs;

mod bad_input;
mod batches;
mod cancel;
mod concurrency;
mod control;
mod dashboard_reads;
mod dependencies;
mod faults;
mod fetch_order;
mod health;
mod hooks;
mod idle_poll;
mod insert;
mod leadership;
mod lease;
mod lifecycle;
mod limits;
mod many_queues;
mod metrics;
mod middleware;
mod migrate;
mod outcome_props;
mod outcomes;
mod periodic;
mod queues;
mod retention;
mod retry;
mod sagas;
mod shutdown;
mod stats;
mod testing;
mod tx_complete;
mod unique;
