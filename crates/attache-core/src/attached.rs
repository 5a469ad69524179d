//! A resource that stays attached while the app runs: swapped, rotated or restored without a
//! restart and without failing a request.
//!
//! [`Attached`] is the handle an app holds. [`Attached::get`] is one atomic load (no lock) and
//! gives a [`Lease`] on the current client. A re-attach reads the binding again, runs the whole
//! connect → inspect → judge on it, and only if it passes builds and warms a new client and
//! swaps it in. Requests holding a lease on the old client finish on it; the old client is
//! closed once the last lease is gone, or after [`AttachOptions::drain_grace`]. A binding that
//! fails (unreachable, wrong certificate, superuser, missing grant, removed) changes nothing: the
//! app keeps serving on the client it has, and [`Attached::status`] says which check refused and
//! when, never a secret.
//!
//! Re-attaches happen on [`Attached::reattach`] (wire it to SIGHUP, an admin endpoint, …) and,
//! with [`Attached::watch`], whenever what the binding reads changes: a service-binding directory
//! (Kubernetes swaps its `..data` symlink atomically), a `*_FILE` secret, a certificate. Bursts
//! of changes are debounced; a refused binding is retried with backoff while it stays refused.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use serde::Serialize;

use crate::discover::Environment;
use crate::finding::CheckId;
use crate::kind::{AttachError, Kind, attach_spec, resolve};
use crate::manifest::{Manifest, ResourceSpec};

/// How an [`Attached`] resource swaps and watches.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AttachOptions {
    /// How long a replaced client may keep serving requests that still hold a lease on it
    /// before it is closed anyway. Default 30 s.
    pub drain_grace: Duration,
    /// Connections a new client opens before it takes traffic. Default 4.
    pub warm_connections: usize,
    /// How often [`Attached::watch`] reads the binding to see whether it changed. Default 1 s.
    pub poll_every: Duration,
    /// How long the binding must stay unchanged before a re-attach starts. Default 200 ms.
    pub debounce: Duration,
    /// The longest wait between retries of a refused binding. Default 60 s.
    pub retry_max: Duration,
}

impl Default for AttachOptions {
    fn default() -> Self {
        AttachOptions {
            drain_grace: Duration::from_secs(30),
            warm_connections: 4,
            poll_every: Duration::from_secs(1),
            debounce: Duration::from_millis(200),
            retry_max: Duration::from_secs(60),
        }
    }
}

impl AttachOptions {
    /// Sets [`drain_grace`](Self::drain_grace).
    pub fn drain_grace(mut self, grace: Duration) -> Self {
        self.drain_grace = grace;
        self
    }
    /// Sets [`warm_connections`](Self::warm_connections).
    pub fn warm_connections(mut self, n: usize) -> Self {
        self.warm_connections = n;
        self
    }
    /// Sets [`poll_every`](Self::poll_every).
    pub fn poll_every(mut self, every: Duration) -> Self {
        self.poll_every = every;
        self
    }
    /// Sets [`debounce`](Self::debounce).
    pub fn debounce(mut self, debounce: Duration) -> Self {
        self.debounce = debounce;
        self
    }
    /// Sets [`retry_max`](Self::retry_max).
    pub fn retry_max(mut self, max: Duration) -> Self {
        self.retry_max = max;
        self
    }
}

/// One client built from one binding that passed.
struct Generation<C> {
    client: C,
    number: u64,
    target: String,
    since: SystemTime,
}

/// The client current when [`Attached::get`] was called. Hold it for the length of a request:
/// a swap does not close a client while leases on it are held (up to the drain grace).
pub struct Lease<C>(Arc<Generation<C>>);

impl<C> Deref for Lease<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.0.client
    }
}

impl<C> Lease<C> {
    /// Which attach built this client: 1 for the first, one more for each swap.
    pub fn generation(&self) -> u64 {
        self.0.number
    }
    /// Where this client points (no secrets).
    pub fn target(&self) -> &str {
        &self.0.target
    }
}

impl<C> Clone for Lease<C> {
    fn clone(&self) -> Self {
        Lease(Arc::clone(&self.0))
    }
}

/// Where an attached resource stands: what serves, and how the last re-attach went.
/// Holds no secret; safe to serve from a readiness endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct AttachStatus {
    /// The resource.
    pub resource: String,
    /// Its kind.
    pub kind: &'static str,
    /// The generation serving new requests.
    pub generation: u64,
    /// Where it points.
    pub target: String,
    /// When it was attached.
    #[serde(serialize_with = "rfc3339")]
    pub since: SystemTime,
    /// Replaced clients still finishing requests.
    pub draining: usize,
    /// The last re-attach that was refused, if no re-attach has passed since.
    pub refused: Option<Refusal>,
}

/// A re-attach that did not happen.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    /// When.
    #[serde(serialize_with = "rfc3339")]
    pub at: SystemTime,
    /// The checks that refused it.
    pub checks: Vec<CheckId>,
    /// What they said (findings never carry secrets).
    pub message: String,
}

fn rfc3339<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    let t = time::OffsetDateTime::from(*t);
    let text = t
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(serde::ser::Error::custom)?;
    s.serialize_str(&text)
}

/// The handle an app holds on one resource of kind `K`. Cheap to clone; share it across tasks.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// # use attache_core::{Attached, Environment, Kind, Manifest};
/// # async fn demo<K: Kind>() -> Result<(), Box<dyn std::error::Error>> where K::Client: Sync {
/// let manifest = Manifest::load("attache.toml")?;
/// let db = Attached::<K>::attach(&manifest, "db", Environment::from_process()).await?;
/// let _watch = db.watch(); // follow the service-binding directory and *_FILE secrets
/// let client = db.get();   // per request: one atomic load
/// # Ok(()) }
/// # Ok(()) }
/// ```
pub struct Attached<K: Kind> {
    inner: Arc<Inner<K>>,
}

impl<K: Kind> Clone for Attached<K> {
    fn clone(&self) -> Self {
        Attached {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Inner<K: Kind> {
    spec: ResourceSpec,
    needs: Vec<K::Need>,
    options: AttachOptions,
    env: Mutex<Environment>,
    current: ArcSwap<Generation<K::Client>>,
    generations: AtomicU64,
    draining: AtomicUsize,
    refused: Mutex<Option<Refusal>>,
    /// Serialises re-attaches.
    reattaching: tokio::sync::Mutex<()>,
    /// The fingerprint of the binding the last re-attach read.
    seen: Mutex<[u8; 32]>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<K: Kind> Attached<K>
where
    K::Client: Sync,
{
    /// Attaches resource `name` of `manifest` with default options, reading its binding from
    /// `env` (and, on every re-attach, again from `env` and the files it names).
    pub async fn attach(
        manifest: &Manifest,
        name: &str,
        env: Environment,
    ) -> Result<Self, AttachError> {
        Self::attach_with(manifest, name, env, AttachOptions::default()).await
    }

    /// [`attach`](Self::attach) with `options`.
    pub async fn attach_with(
        manifest: &Manifest,
        name: &str,
        env: Environment,
        options: AttachOptions,
    ) -> Result<Self, AttachError> {
        let (spec, needs) = resolve::<K>(manifest, name)?;
        let seen = fingerprint::<K>(spec, &env);
        let passed = attach_spec::<K>(spec, &needs, &env).await?;
        K::warm(&passed.client, options.warm_connections).await;
        let first = Generation {
            client: passed.client,
            number: 1,
            target: passed.target,
            since: SystemTime::now(),
        };
        Ok(Attached {
            inner: Arc::new(Inner {
                spec: spec.clone(),
                needs,
                options,
                env: Mutex::new(env),
                current: ArcSwap::from_pointee(first),
                generations: AtomicU64::new(1),
                draining: AtomicUsize::new(0),
                refused: Mutex::new(None),
                reattaching: tokio::sync::Mutex::new(()),
                seen: Mutex::new(seen),
            }),
        })
    }

    /// The current client. One atomic load; never waits for a re-attach.
    pub fn get(&self) -> Lease<K::Client> {
        Lease(self.inner.current.load_full())
    }

    /// The resource's name.
    pub fn name(&self) -> &str {
        &self.inner.spec.name
    }

    /// Where the resource stands (no secrets).
    pub fn status(&self) -> AttachStatus {
        let current = self.inner.current.load();
        AttachStatus {
            resource: self.inner.spec.name.clone(),
            kind: K::NAME,
            generation: current.number,
            target: current.target.clone(),
            since: current.since,
            draining: self.inner.draining.load(Ordering::Relaxed),
            refused: lock(&self.inner.refused).clone(),
        }
    }

    /// Replaces the environment the binding is read from (for apps that learn it otherwise
    /// than from files); takes effect at the next re-attach.
    pub fn set_environment(&self, env: Environment) {
        *lock(&self.inner.env) = env;
    }

    /// Reads the binding again, checks it fully, and swaps it in if it passes; returns the new
    /// generation. If it is refused, nothing changes: the current client keeps serving, the
    /// refusal is logged and shown by [`status`](Self::status), and the error says why.
    pub async fn reattach(&self) -> Result<u64, AttachError> {
        self.reattach_unless_seen(None).await
    }

    /// A re-attach; with `unless_seen`, none if another re-attach has already read a binding
    /// with that fingerprint (the watcher and an explicit call noticed the same change).
    async fn reattach_unless_seen(
        &self,
        unless_seen: Option<[u8; 32]>,
    ) -> Result<u64, AttachError> {
        let inner = &self.inner;
        let _one_at_a_time = inner.reattaching.lock().await;
        let env = lock(&inner.env).clone();
        let now = fingerprint::<K>(&inner.spec, &env);
        {
            let mut seen = lock(&inner.seen);
            if unless_seen.is_some_and(|fp| fp == *seen && fp == now)
                && lock(&inner.refused).is_none()
            {
                return Ok(inner.current.load().number);
            }
            *seen = now;
        }
        let passed = match attach_spec::<K>(&inner.spec, &inner.needs, &env).await {
            Ok(passed) => passed,
            Err(e) => {
                let serving = inner.current.load().number;
                let refusal = Refusal {
                    at: SystemTime::now(),
                    checks: e.findings().iter().map(|f| f.check).collect(),
                    message: e.to_string(),
                };
                tracing::warn!(
                    resource = %inner.spec.name,
                    serving_generation = serving,
                    "re-attach refused, still serving the attached client: {e}"
                );
                *lock(&inner.refused) = Some(refusal);
                return Err(e);
            }
        };
        K::warm(&passed.client, inner.options.warm_connections).await;
        let number = inner.generations.fetch_add(1, Ordering::Relaxed) + 1;
        let old = inner.current.swap(Arc::new(Generation {
            client: passed.client,
            number,
            target: passed.target.clone(),
            since: SystemTime::now(),
        }));
        *lock(&inner.refused) = None;
        tracing::info!(
            resource = %inner.spec.name,
            generation = number,
            target = %passed.target,
            replaced = old.number,
            "re-attached"
        );
        self.drain(old);
        Ok(number)
    }

    /// Closes a replaced client once no lease holds it, or after the drain grace.
    fn drain(&self, old: Arc<Generation<K::Client>>) {
        let inner = Arc::clone(&self.inner);
        inner.draining.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + inner.options.drain_grace;
            while Arc::strong_count(&old) > 1 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let held = Arc::strong_count(&old) - 1;
            if held > 0 {
                tracing::warn!(
                    resource = %inner.spec.name,
                    generation = old.number,
                    leases = held,
                    "closing a replaced client with leases still held after the drain grace"
                );
            }
            K::close(&old.client);
            inner.draining.fetch_sub(1, Ordering::Relaxed);
        });
    }

    /// The policy's `request_timeout`: how long one request of the app should wait on the
    /// resource. attache bounds what it can with it (the pool's wait, the driver's response
    /// timeout, the server's statement timeout); a server that stops answering without closing
    /// (frozen, a hung disk) is bounded only by the app's own timeout around its calls, e.g.
    /// `tokio::time::timeout(db.request_timeout(), …)`.
    pub fn request_timeout(&self) -> Duration {
        self.inner.spec.policy.request_timeout
    }

    /// Re-attaches whenever what the binding reads changes (checked every
    /// [`poll_every`](AttachOptions::poll_every), debounced), and retries a refused binding
    /// with backoff. Runs until the returned [`Watch`] is dropped.
    ///
    /// Polling, not file-system events: a Kubernetes secret volume replaces a `..data`
    /// symlink, config maps and secrets can be mounted from any file system, and reading a few
    /// small files once a second costs nothing measurable.
    pub fn watch(&self) -> Watch {
        let weak = Arc::downgrade(&self.inner);
        Watch(tokio::spawn(watch_loop::<K>(weak)))
    }
}

/// The fingerprint of what the binding reads now: its contents, or the reason there is none.
fn fingerprint<K: Kind>(spec: &ResourceSpec, env: &Environment) -> [u8; 32] {
    crate::discover::fingerprint(spec, env, K::SURFACE.binding_files)
}

async fn watch_loop<K: Kind>(weak: Weak<Inner<K>>)
where
    K::Client: Sync,
{
    let mut backoff: Option<Duration> = None;
    let mut next_retry = tokio::time::Instant::now();
    loop {
        let Some(options) = weak.upgrade().map(|inner| inner.options.clone()) else {
            return;
        };
        tokio::time::sleep(options.poll_every).await;
        let Some(inner) = weak.upgrade() else { return };
        let attached = Attached { inner };
        let env = lock(&attached.inner.env).clone();
        let spec = &attached.inner.spec;
        let mut now = fingerprint::<K>(spec, &env);
        let changed = now != *lock(&attached.inner.seen);
        let refused = lock(&attached.inner.refused).is_some();
        let retry = refused && tokio::time::Instant::now() >= next_retry;
        if !changed && !retry {
            continue;
        }
        if changed {
            // Debounce: wait until two readings `debounce` apart agree.
            loop {
                tokio::time::sleep(options.debounce).await;
                let again = fingerprint::<K>(spec, &env);
                if again == now {
                    break;
                }
                now = again;
            }
            tracing::info!(resource = %spec.name, "binding changed, re-attaching");
        }
        let attempt = if changed {
            attached.reattach_unless_seen(Some(now)).await
        } else {
            attached.reattach().await
        };
        match attempt {
            Ok(_) => backoff = None,
            Err(_) => {
                let wait = backoff.map_or(options.poll_every, |b| (b * 2).min(options.retry_max));
                backoff = Some(wait);
                next_retry = tokio::time::Instant::now() + wait;
            }
        }
    }
}

/// Keeps [`Attached::watch`] running; dropping it stops the watching.
#[must_use = "watching stops when the Watch is dropped"]
pub struct Watch(tokio::task::JoinHandle<()>);

impl Drop for Watch {
    fn drop(&mut self) {
        self.0.abort();
    }
}
