//! The redis kind of attache (in progress).

/// The `redis` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct Redis;
