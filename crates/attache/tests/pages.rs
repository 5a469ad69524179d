//! Core's check pages are the same for every kind: what a check means for one kind is that
//! kind's section, in its crate, which `Registry::page` appends under the kind's title.

use attache::CheckId;

/// Words of the kinds not built yet, so their text cannot creep into core's pages first.
const COMING: &[&str] = &[
    "rabbitmq", "amqp", "nats", "mqtt", "smtp", "libpq", "sslmode",
];

#[test]
fn core_pages_name_no_kind_and_every_section_is_shown() {
    let registry = attache::registry();
    let mut words: Vec<String> = COMING.iter().map(|w| (*w).to_owned()).collect();
    for kind in registry.kinds() {
        let surface = kind.surface();
        words.extend(
            surface
                .title
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| w.len() > 2)
                .map(str::to_ascii_lowercase),
        );
        // A scheme names a kind as it is written in a URL (`tls` alone is every kind's word).
        words.extend(
            surface
                .url
                .schemes
                .iter()
                .map(|s| format!("{}://", s.to_ascii_lowercase())),
        );
        words.extend(surface.binding_types.iter().map(|s| s.to_ascii_lowercase()));
    }
    assert!(registry.kinds().next().is_some(), "no kind registered");
    for check in CheckId::ALL {
        let page = check.page().to_ascii_lowercase();
        for word in &words {
            assert!(
                !page.contains(word.as_str()),
                "core's page of {check} names `{word}`; move that to the kind's section"
            );
        }
        let shown = registry.page(*check);
        for kind in registry.kinds() {
            let surface = kind.surface();
            if let Some(section) = surface.page(*check) {
                assert!(
                    shown.contains(&format!("## {}", surface.title))
                        && shown.contains(section.trim()),
                    "{check}: {}'s section is not shown",
                    surface.title
                );
            }
        }
    }
}

#[test]
fn every_kind_section_is_a_known_check_once_in_order() {
    for kind in attache::registry().kinds() {
        let surface = kind.surface();
        let ids: Vec<&str> = surface.sections().map(|(id, _)| id).collect();
        assert!(!ids.is_empty(), "{} has no sections", surface.title);
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(
            ids, sorted,
            "{}: sections not sorted by id, or one twice",
            surface.title
        );
        for (id, body) in surface.sections() {
            assert!(
                id.parse::<CheckId>().is_ok(),
                "{}: `{id}` is no check",
                surface.title
            );
            assert!(!body.is_empty(), "{}: section {id} is empty", surface.title);
            assert!(
                !body.starts_with('#'),
                "{}: section {id} starts with a heading; `attache explain` adds it",
                surface.title
            );
        }
    }
}
