//! Helpers for a kind's own unit tests, which need no server: judging a posture as an audit
//! does, and provisioning needs written in the kind's words.

use attache_core::{Finding, Kind, Provision, ProvisionRequest, ResourceSpec, Secret};

pub use crate::contract::checks;

/// The resource unit tests speak of.
pub const RESOURCE: &str = "db";

/// Every finding an audit makes of `posture`: the kind's own, then core's judgement of the
/// needs.
pub fn judge<K: Kind>(posture: &K::Posture) -> Vec<Finding> {
    attache_core::judge_posture::<K>(RESOURCE, posture).1
}

/// What `attache grants` writes to create `account` holding `needs` (each in the kind's own
/// words; a need that does not parse panics, naming it).
pub fn provision<K: Kind>(needs: &[&str], account: &str, password: Option<&Secret>) -> Provision {
    let needs: Vec<K::Need> = needs
        .iter()
        .map(|n| n.parse().unwrap_or_else(|e| panic!("need `{n}`: {e}")))
        .collect();
    K::provision(&ProvisionRequest {
        spec: &ResourceSpec::new(RESOURCE, K::NAME),
        needs: &needs,
        account,
        password,
    })
}
