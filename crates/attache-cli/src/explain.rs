//! `attache explain`: a check's page, or the list of checks.

use attache::CheckId;

use crate::settings::ExplainSettings;

/// What `attache explain` shows.
pub(crate) enum Explanation {
    /// One check's page: core's text, then each kind's section.
    Page(String),
    /// Every check with the title of its page, in catalog order.
    List(Vec<(CheckId, &'static str)>),
}

pub(crate) fn run(settings: &ExplainSettings) -> Explanation {
    match settings.check {
        Some(check) => Explanation::Page(attache::registry().page(check)),
        None => Explanation::List(CheckId::ALL.iter().map(|&c| (c, title(c))).collect()),
    }
}

/// The title of a check's page: its first line without `# <id> — `.
fn title(check: CheckId) -> &'static str {
    let title = check.page().lines().next().unwrap_or_default();
    title
        .trim_start_matches("# ")
        .split_once(" — ")
        .map_or(title, |(_, t)| t)
}
