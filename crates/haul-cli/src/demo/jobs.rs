//! The demo's job kinds: what a small shop's backend hands to a queue.

use haul::{Job, JobContext, JobError, RetryPolicy};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What every demo handler shares.
#[derive(Clone)]
pub struct Shop {
    pub pool: sqlx::PgPool,
    pub schema: String,
}

/// Pretends to talk to a remote service for `ms` milliseconds.
async fn remote_call(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[derive(Serialize, Deserialize)]
pub struct SendWelcomeEmail {
    pub user_id: u64,
    pub email: String,
}

impl Job for SendWelcomeEmail {
    const KIND: &'static str = "send_welcome_email";
    const QUEUE: &'static str = "mail";
}

pub async fn send_welcome_email(_ctx: JobContext<Shop>, job: SendWelcomeEmail) -> Result<(), JobError> {
    remote_call(2 + job.user_id % 9).await; // SMTP
    Ok(())
}

#[derive(Serialize, Deserialize)]
pub struct ConfirmOrder {
    pub order_id: i64,
}

impl Job for ConfirmOrder {
    const KIND: &'static str = "confirm_order";
    const QUEUE: &'static str = "mail";
}

pub async fn confirm_order(ctx: JobContext<Shop>, job: ConfirmOrder) -> Result<(), JobError> {
    remote_call(5).await;
    let sql = format!("UPDATE \"{}\".orders SET confirmed_at = now() WHERE id = $1", ctx.state().schema);
    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(job.order_id).execute(&ctx.state().pool).await?;
    Ok(())
}

#[derive(Serialize, Deserialize)]
pub struct ResizeImage {
    pub image_id: u64,
    pub width: u32,
}

impl Job for ResizeImage {
    const KIND: &'static str = "resize_image";
    const QUEUE: &'static str = "images";
}

pub async fn resize_image(_ctx: JobContext<Shop>, job: ResizeImage) -> Result<(), JobError> {
    // a box filter over a synthetic row of pixels: a little real CPU work, off the async threads
    let width = job.width as usize;
    tokio::task::spawn_blocking(move || {
        let pixels: Vec<u32> = (0..width * 64).map(|i| (i as u32).wrapping_mul(2_654_435_761)).collect();
        pixels.chunks(4).map(|c| c.iter().map(|p| u64::from(*p)).sum::<u64>() / 4).sum::<u64>()
    })
    .await
    .map_err(JobError::retry)?;
    remote_call(10 + job.image_id % 30).await; // upload to object storage
    Ok(())
}

#[derive(Serialize, Deserialize)]
pub struct BuildMonthlyReport {
    pub month: String,
}

impl Job for BuildMonthlyReport {
    const KIND: &'static str = "build_monthly_report";
    const QUEUE: &'static str = "reports";
    const TIMEOUT: Duration = Duration::from_secs(30);
}

pub async fn build_monthly_report(ctx: JobContext<Shop>, _job: BuildMonthlyReport) -> Result<(), JobError> {
    for _section in 0..10 {
        if ctx.is_cancelled() {
            return Err(JobError::retry("report interrupted; it will be rebuilt"));
        }
        remote_call(120).await; // query the warehouse, section by section
    }
    Ok(())
}

#[derive(Serialize, Deserialize)]
pub struct NotifyPartner {
    pub order_id: u64,
}

impl Job for NotifyPartner {
    const KIND: &'static str = "notify_partner";
    const QUEUE: &'static str = "webhooks";
    const MAX_ATTEMPTS: i16 = 5;
    const RETRY: RetryPolicy = RetryPolicy::exponential(Duration::from_millis(200), Duration::from_secs(2));
}

/// The partner's API is flaky: some calls fail once or twice with a 503, then succeed.
pub async fn notify_partner(ctx: JobContext<Shop>, job: NotifyPartner) -> Result<(), JobError> {
    remote_call(8).await;
    if i64::from(ctx.attempt()) <= (job.order_id % 3) as i64 {
        return Err(JobError::retry(format!(
            "partner API returned 503 Service Unavailable for order {}",
            job.order_id
        )));
    }
    Ok(())
}

#[derive(Serialize, Deserialize)]
pub struct ImportCustomers {
    pub csv_url: String,
}

impl Job for ImportCustomers {
    const KIND: &'static str = "import_customers";
    const MAX_ATTEMPTS: i16 = 3;
    const RETRY: RetryPolicy = RetryPolicy::constant(Duration::from_millis(300));
}

/// The poison job: its file does not exist, so every attempt fails until the dead letter.
pub async fn import_customers(_ctx: JobContext<Shop>, job: ImportCustomers) -> Result<(), JobError> {
    remote_call(15).await;
    Err(JobError::retry(format!("GET {}: 404 Not Found", job.csv_url)))
}
