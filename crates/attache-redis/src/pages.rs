//! This kind's sections of the check pages (`checks/<id>.md`), which `attache explain` appends
//! to core's pages under "Redis".

use attache_core::CheckId;

pub(crate) const PAGES: &[(CheckId, &str)] = &[
    (
        CheckId::BindingInvalid,
        include_str!("../checks/binding-invalid.md"),
    ),
    (
        CheckId::BindingMissing,
        include_str!("../checks/binding-missing.md"),
    ),
    (
        CheckId::CredDefault,
        include_str!("../checks/cred-default.md"),
    ),
    (CheckId::CredEmpty, include_str!("../checks/cred-empty.md")),
    (CheckId::CredInEnv, include_str!("../checks/cred-in-env.md")),
    (
        CheckId::PrivExcess,
        include_str!("../checks/priv-excess.md"),
    ),
    (
        CheckId::PrivMissing,
        include_str!("../checks/priv-missing.md"),
    ),
    (
        CheckId::PrivRoleAdmin,
        include_str!("../checks/priv-role-admin.md"),
    ),
    (
        CheckId::PrivSuperuser,
        include_str!("../checks/priv-superuser.md"),
    ),
    (
        CheckId::PrivUnknown,
        include_str!("../checks/priv-unknown.md"),
    ),
    (
        CheckId::TlsCertExpiring,
        include_str!("../checks/tls-cert-expiring.md"),
    ),
    (
        CheckId::TlsCertInvalid,
        include_str!("../checks/tls-cert-invalid.md"),
    ),
    (
        CheckId::TlsPlaintext,
        include_str!("../checks/tls-plaintext.md"),
    ),
    (
        CheckId::TlsUnverified,
        include_str!("../checks/tls-unverified.md"),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_section_is_a_body_and_every_file_is_listed() {
        for (check, page) in PAGES {
            assert!(!page.trim().is_empty(), "section of {check} is empty");
            assert!(
                !page.trim_start().starts_with('#'),
                "section of {check} starts with a heading; `attache explain` adds it"
            );
        }
        let ids: Vec<&str> = PAGES.iter().map(|(c, _)| c.as_str()).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(
            ids, sorted,
            "PAGES is not sorted by id, or lists an id twice"
        );
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/checks");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("checks/ can be read")
            .map(|entry| {
                entry
                    .expect("checks/ entry")
                    .file_name()
                    .into_string()
                    .unwrap()
            })
            .collect();
        files.sort_unstable();
        for file in &files {
            let id = file
                .strip_suffix(".md")
                .unwrap_or_else(|| panic!("checks/{file} is not a .md page"));
            assert!(ids.contains(&id), "checks/{file} is not listed in PAGES");
        }
        assert_eq!(files.len(), PAGES.len(), "PAGES lists a page with no file");
    }
}
