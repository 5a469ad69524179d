//! The mysql kind of attache (in progress).

/// The `mysql` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mysql;
