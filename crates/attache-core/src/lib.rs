//! The core of attache: everything that is the same for every kind of backing service.
//!
//! - [`Manifest`]: what the app uses and needs (`attache.toml`, committed, no secrets);
//! - [`discover`](discover::discover): where each resource is, from the environment, every
//!   field remembering its [`Source`];
//! - [`tls`]: verify-full TLS with rustls, and the posture of each handshake;
//! - [`Secret`]: the one type secrets live in; it never prints;
//! - [`Kind`]: the trait a protocol crate implements; [`check`] and [`attach`] run the shared
//!   flow resolve → connect → inspect → judge → attach;
//! - [`Attached`]: a resource that can be swapped and rotated while the app runs;
//! - [`Finding`], [`CheckId`], [`Report`]: the results, each check with its own page.
//!
//! Core knows no protocol. The PostgreSQL kind lives in `attache-postgres`; the `attache` crate
//! re-exports both.

pub mod attached;
pub mod discover;
pub mod finding;
pub mod kind;
pub mod manifest;
pub mod report;
pub mod secret;
pub mod source;
pub mod tls;
pub mod url;

pub use attached::{AttachOptions, AttachStatus, Attached, Lease, Refusal, Watch};
pub use discover::{BindingInput, Environment};
pub use finding::{CheckId, Finding, Severity};
pub use kind::{
    AttachError, Binding, Checked, Connected, Ctx, Inspection, Kind, Provision, Registry,
    ResourceReport, attach, check, refuses,
};
pub use manifest::{ExcessPolicy, Manifest, ManifestError, Policy, ResourceSpec, TlsRequirement};
pub use report::Report;
pub use secret::Secret;
pub use source::{Source, Sourced};
