//! Running an in-process component (the scheduler) on a thread of its own, as a separate
//! process would run.

use anyhow::{Context, Result};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Starts a component on a new thread named `name` with its own single-threaded runtime:
/// `start` runs there (so a client it builds dispatches there too) and returns the
/// component's task. The returned task (on the caller's runtime) ends when the component's
/// does; when it is dropped instead (the caller's runtime shut down, the server dropped
/// without a shutdown), the component is stopped and its thread ends.
///
/// The scheduling loop is CPU work between awaits. On the server's two workers it either
/// held one of them for long stretches (its own watch then fell behind its bindings) or,
/// yielding after each cycle, waited behind hundreds of request tasks for its turn. On its
/// own thread it gets its share of the machine from the OS, as kube-scheduler does. Its
/// in-process requests are served on that thread too, with the watches they open: served
/// on the server's runtime, the scheduler's pod watch fell more than 30 s behind its own
/// bindings at 1,000 nodes.
pub(crate) fn on_own_thread<F>(name: &str, start: F) -> Result<JoinHandle<()>>
where
    F: FnOnce() -> JoinHandle<()> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .with_context(|| format!("starting the {name} runtime"))?;
    let (done, finished) = oneshot::channel::<()>();
    let (alive, caller_gone) = oneshot::channel::<()>();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            runtime.block_on(async move {
                let component = start();
                tokio::select! {
                    _ = component => {}
                    _ = caller_gone => {}
                }
            });
            // Dropping the runtime cancels what the component left running (bindings in
            // flight, watches) before the caller hears that it ended.
            drop(runtime);
            let _ = done.send(());
        })
        .with_context(|| format!("starting the {name} thread"))?;
    Ok(tokio::spawn(async move {
        let _alive = alive;
        let _ = finished.await;
    }))
}
