//! The bounded pool for CPU-heavy work on untrusted input: parsing a client's project
//! files, rendering and tokenizing READMEs, running the resolver.
//!
//! Why: such work on the runtime's worker threads stalls everything else on them
//! (`/healthz`, cached answers, other questions' flights); two 1 MB setup.cfg scans
//! once delayed an unrelated cached `get_package_info` by 31 s. Here the work runs on
//! threads of its own, at most one job per core but one (a semaphore, so the workers
//! keep a core), bounded by the question's deadline, and cancelled when its caller
//! goes away.
//!
//! Those threads also run at a lower priority ([`lower_this_thread_priority`]): on a
//! machine whose every core is busy (the pool, other processes), the kernel preempts a
//! pool job as soon as an async thread has an answer to give, instead of letting the
//! answer wait out the job's time slice.
//!
//! Cancellation is cooperative: a blocking thread cannot be killed, so every job gets a
//! [`CancelFlag`] and checks it between units of work (a line, a section, a solver
//! step). The flag is raised when the deadline passes or when the awaiting future is
//! dropped; the job's core is given back when the job returns.
//!
//! One pool per process, not per engine: the cores are the process's.

use std::sync::{Arc, OnceLock};

use tokio::sync::Semaphore;
use tokio::time::Instant;

pub use sentinel_core::cancel::CancelFlag;

/// Why a job gave no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CpuError {
    /// The deadline passed while the job waited for a core or ran.
    #[error("the work did not finish before the deadline")]
    Deadline,
    /// The job panicked (a bug; the caller gets an internal error, the process lives).
    #[error("the work panicked")]
    Panicked,
    /// No thread could be started for the job (the system's thread limit).
    #[error("no thread could be started for the work")]
    NoThread,
}

impl CpuError {
    /// As a question's error: the deadline passed (`deadline_ms`: the whole deadline
    /// the caller waited), or the job panicked (`failed`: what the caller says of it).
    pub fn into_query_error(
        self,
        deadline_ms: u64,
        failed: &str,
    ) -> sentinel_core::model::QueryError {
        match self {
            CpuError::Deadline => {
                sentinel_core::model::QueryError::DeadlineExceeded { deadline_ms }
            }
            CpuError::Panicked | CpuError::NoThread => {
                sentinel_core::model::QueryError::Internal(failed.into())
            }
        }
    }
}

/// The pool: a permit per job that may run at once.
#[derive(Debug)]
pub struct CpuPool {
    permits: Arc<Semaphore>,
    size: usize,
}

/// The process's pool: one job per core this process may use, less one, kept for the
/// runtime's workers so that answers needing no heavy work always have a core; at
/// least one.
pub fn pool() -> &'static CpuPool {
    static POOL: OnceLock<CpuPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        CpuPool::new(cores.saturating_sub(1))
    })
}

/// Raises the flag when dropped: the awaiting future went away or gave up.
struct RaiseOnDrop(CancelFlag);

impl Drop for RaiseOnDrop {
    fn drop(&mut self) {
        self.0.raise();
    }
}

impl CpuPool {
    /// A pool running at most `size` jobs at once (at least one).
    pub fn new(size: usize) -> Self {
        let size = size.max(1);
        CpuPool {
            permits: Arc::new(Semaphore::new(size)),
            size,
        }
    }

    /// How many jobs run at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Runs `job` on a blocking thread once a core is free, and waits for it until
    /// `deadline`. Dropping the returned future, or the deadline passing, raises the
    /// job's [`CancelFlag`]; the answer is then [`CpuError::Deadline`].
    pub async fn run<T, F>(&self, deadline: Instant, job: F) -> Result<T, CpuError>
    where
        T: Send + 'static,
        F: FnOnce(&CancelFlag) -> T + Send + 'static,
    {
        let flag = CancelFlag::default();
        let _raise = RaiseOnDrop(flag.clone());
        let permit = tokio::time::timeout_at(deadline, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| CpuError::Deadline)?
            .expect("the pool's semaphore is never closed");
        let job_flag = flag.clone();
        let (answer_tx, answer_rx) = tokio::sync::oneshot::channel();
        // A thread per job, not tokio's blocking threads: its lowered priority must
        // not follow other blocking work (the store, DNS) that would reuse the thread.
        // A thread costs tens of microseconds; a job here costs milliseconds or more.
        std::thread::Builder::new()
            .name("sentinel-cpu".into())
            .spawn(move || {
                let _permit = permit; // the core is given back when the job returns
                lower_this_thread_priority();
                let answer =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&job_flag)));
                let _ = answer_tx.send(answer);
            })
            .map_err(|_| CpuError::NoThread)?;
        match tokio::time::timeout_at(deadline, answer_rx).await {
            Err(_) => Err(CpuError::Deadline),
            Ok(Ok(Ok(v))) => Ok(v),
            // A panic, caught; or the thread gone without a word (cannot happen, but not a hang).
            Ok(Ok(Err(_))) | Ok(Err(_)) => Err(CpuError::Panicked),
        }
    }
}

/// Lowers the calling thread's scheduling priority to nice 10 (Linux; elsewhere this
/// does nothing, since there `setpriority` would act on the whole process). The pool's
/// threads call it, and so does the product's thread that reads large request bodies.
/// Best effort: if the kernel refuses, the thread keeps its priority.
pub fn lower_this_thread_priority() {
    #[cfg(target_os = "linux")]
    {
        // On Linux, a thread id given to setpriority names that one thread.
        let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_job_runs_and_answers() {
        let pool = CpuPool::new(1);
        let v = pool
            .run(Instant::now() + Duration::from_secs(5), |_| 40 + 2)
            .await;
        assert_eq!(v, Ok(42));
    }

    #[tokio::test]
    async fn a_job_past_its_deadline_is_told_to_stop_and_frees_its_core() {
        let pool = CpuPool::new(1);
        let (seen_tx, seen_rx) = std::sync::mpsc::channel();
        let v = pool
            .run(Instant::now() + Duration::from_millis(50), move |flag| {
                while !flag.is_raised() {
                    std::thread::yield_now();
                }
                seen_tx.send(()).unwrap();
            })
            .await;
        assert_eq!(v, Err(CpuError::Deadline));
        // The job saw the flag and returned; the pool's one core is free again.
        seen_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let again = pool
            .run(Instant::now() + Duration::from_secs(10), |_| 1)
            .await;
        assert_eq!(again, Ok(1));
    }

    #[tokio::test]
    async fn a_dropped_caller_raises_the_flag() {
        let pool = Arc::new(CpuPool::new(1));
        let (seen_tx, seen_rx) = std::sync::mpsc::channel();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let p = pool.clone();
        let task = tokio::spawn(async move {
            p.run(Instant::now() + Duration::from_secs(60), move |flag| {
                let _ = started_tx.send(());
                while !flag.is_raised() {
                    std::thread::yield_now();
                }
                seen_tx.send(()).unwrap();
            })
            .await
        });
        started_rx.await.unwrap();
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        seen_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_job_runs_at_a_lower_priority_than_the_async_threads() {
        use rustix::process::getpriority_process;
        use rustix::thread::gettid;
        let ours = getpriority_process(Some(gettid())).unwrap();
        let pool = CpuPool::new(1);
        let jobs = pool
            .run(Instant::now() + Duration::from_secs(5), |_| {
                getpriority_process(Some(gettid())).unwrap()
            })
            .await
            .unwrap();
        // Nice 10, or ours if this test already runs nicer than that.
        assert_eq!(jobs, ours.max(10));
        // Only the job's own thread was lowered.
        assert_eq!(getpriority_process(Some(gettid())).unwrap(), ours);
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_not_a_crash() {
        let pool = CpuPool::new(1);
        let v: Result<(), _> = pool
            .run(Instant::now() + Duration::from_secs(5), |_| panic!("boom"))
            .await;
        assert_eq!(v, Err(CpuError::Panicked));
    }
}
