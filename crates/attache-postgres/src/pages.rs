//! This kind's sections of the check pages (`checks/<id>.md`), which `attache explain` appends
//! to core's pages under "PostgreSQL".

use attache_core::CheckId;

pub(crate) const PAGES: &[(CheckId, &str)] = &[];
