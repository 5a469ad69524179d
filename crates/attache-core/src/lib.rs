//! The core of attache: everything that is the same for every kind of backing service.
//!
//! - [`Manifest`]: what the app uses and needs (`attache.toml`, committed, no secrets);
//! - [`discover`](discover::discover): where each resource is, from the environment, every
//!   field remembering its [`Source`]; [`binding`]: the readers every kind's binding shares;
//! - [`transport`]: what a binding asks of the connection's security, and core's decision
//!   about it; [`tls`]: verify-full TLS with rustls, and the posture of each handshake;
//! - [`failure`]: why a connection failed, in one vocabulary, and the finding for it;
//! - [`account`]: what inspection learned about the account, and the judgement of its needs;
//!   [`probe`]: what kinds that learn it by trying share;
//! - [`Secret`]: the one type secrets live in; it never prints;
//! - [`Kind`]: the trait a protocol crate implements, with its [`Surface`] declared as data;
//!   [`check`] and [`attach`] run the shared flow resolve → connect → inspect → judge → attach;
//! - [`Attached`]: a resource that can be swapped and rotated while the app runs;
//! - [`Finding`], [`CheckId`], [`Report`]: the results, each check with its own page, and the
//!   app's [`AttackSurface`];
//! - [`process`]: the app's running process read from `/proc` and judged (root,
//!   capabilities, listeners, peers, local state, the secrets in its environment);
//!   [`repo`]: the secrets in the files its git repository tracks; [`scan`]: the one detector
//!   of secrets both use.
//!
//! Core knows no protocol: each kind lives in its own crate, and the `attache` crate
//! re-exports core and every kind the build enables.

pub mod account;
pub mod attached;
pub mod binding;
pub mod discover;
pub mod failure;
pub mod finding;
pub mod floor;
pub mod kind;
pub mod manifest;
pub mod probe;
pub mod process;
pub mod repo;
pub mod report;
pub mod scan;
pub mod secret;
pub mod source;
pub mod sql;
pub mod surface;
pub mod tls;
pub mod transport;
pub mod url;

pub use account::{Account, Excess, Fix, Grant, NeedCheck, NeedState, Privilege, Role, Via};
pub use attached::{AttachOptions, AttachStatus, Attached, Lease, Refusal, Watch};
pub use binding::{Binding, BindingInput, Common, Params, TlsModes, UrlShape};
pub use discover::Environment;
pub use failure::Failure;
pub use finding::{CheckId, Finding, Severity};
pub use kind::{
    AttachError, Checked, Connected, Ctx, Kind, Posture, Provision, ProvisionRequest, Registry,
    ResourceReport, attach, check, judge_posture, refuses,
};
pub use manifest::{
    ExcessPolicy, Listen, ListenScope, Manifest, ManifestError, Policy, ProcessSpec, Protocol,
    ResourceSpec, TlsRequirement,
};
pub use probe::Answer;
pub use process::{Endpoint, ProcessAudit, ProcessError, Snapshot};
pub use repo::RepoScan;
pub use report::{AttackSurface, Report};
pub use secret::Secret;
pub use source::{Source, Sourced};
pub use surface::Surface;
pub use transport::{TlsAdvice, TlsAsk, TlsMode, Transport, Wire};
pub use url::Host;
