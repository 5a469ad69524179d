//! Renderers: views over a command's report, one module per command or format. Nothing here
//! computes a finding or reads the outside world; each view writes what it is given to the
//! writers it is handed (data to `out`, diagnostics to `err`) and returns the write's error for
//! `main` to judge.

pub(crate) mod audit;
pub(crate) mod cli;
pub(crate) mod explain;
pub(crate) mod grants;
pub(crate) mod html;
pub(crate) mod sarif;
