//! What every kind's binding parser promises, written once and run in each kind's unit tests
//! with [`binding_suite!`](crate::binding_suite): no server needed, only the kind's
//! `Kind::parse_binding` and the test kit's [`Service`] (its URLs and binding files).
//!
//! Every case binds resource `svc` through `SVC_URL`; the sample URL
//! ([`Service::sample_url`]) is for user `app`, password [`PASSWORD`], database `appdb` and the
//! CA `/ca.pem`, TLS verified.

use std::path::{Path, PathBuf};

use attache_core::tls::Roots;
use attache_core::transport::judge;
use attache_core::{
    Binding, BindingInput, CheckId, Environment, Finding, Kind, Policy, ResourceSpec, Secret,
    Severity, Source, Sourced, TlsRequirement,
};

use crate::contract::{Login, RESOURCE, Service, URL_VAR};
use crate::{BindingDir, Pki};

/// The password in every sample URL: no output may contain it.
pub const PASSWORD: &str = "planted-1";

/// The input of a binding read from `var` holding `url`.
pub fn url_input(resource: &str, var: &str, url: &str) -> BindingInput {
    BindingInput {
        resource: resource.into(),
        origin: Some(Source::Env(var.into())),
        url: Some(Sourced::new(
            Secret::new(url.into()),
            Source::Env(var.into()),
        )),
        ..Default::default()
    }
}

/// Parses `input` as kind `K` does, then judges its transport as core does before connecting.
pub fn judged<K: Kind>(
    input: BindingInput,
    policy: &Policy,
) -> Result<(K::Binding, Vec<Finding>), Finding> {
    let resource = input.resource.clone();
    let b = K::Binding::parse(input)?;
    let j = judge(&resource, b.transport(), policy, &K::SURFACE.tls);
    Ok((b, j.findings))
}

/// What [`judged`] returns for kind `K`.
pub type Judged<K> = Result<(<K as Kind>::Binding, Vec<Finding>), Finding>;

/// [`judged`] for `url` in `var` of `resource`, under the default policy.
pub fn judge_default<K: Kind>(resource: &str, var: &str, url: &str) -> Judged<K> {
    judge_url::<K>(resource, var, url, &Policy::default())
}

/// [`judged`] for `url` in `var` of `resource`.
pub fn judge_url<K: Kind>(
    resource: &str,
    var: &str,
    url: &str,
    policy: &Policy,
) -> Result<(K::Binding, Vec<Finding>), Finding> {
    judged::<K>(url_input(resource, var, url), policy)
}

/// Asserts `url` in `var` is `binding-invalid`, the message starting with `field` and naming
/// the variable, and no `planted` secret in message or remedy.
pub fn assert_invalid<K: Kind>(var: &str, url: &str, field: &str) {
    let f = match K::Binding::parse(url_input(RESOURCE, var, url)) {
        Ok(_) => panic!("{url}: expected binding-invalid naming {field}"),
        Err(f) => f,
    };
    assert_eq!(f.check, CheckId::BindingInvalid, "{url}");
    assert!(f.message.starts_with(field), "{url}: {}", f.message);
    assert!(
        f.message.contains(&format!("env {var}")),
        "{url}: {}",
        f.message
    );
    assert!(
        !f.message.contains("planted") && !f.remedy.contains("planted"),
        "{url}: {}",
        f.message
    );
}

/// Asserts each of `urls` parses or is refused without a panic, that no refusal echoes a
/// `planted` secret, and that a binding read shows its password neither in `Debug` nor in its
/// target.
pub fn assert_never_panics<K: Kind>(urls: impl IntoIterator<Item = String>) {
    for url in urls {
        let input = url_input(RESOURCE, URL_VAR, &url);
        match std::panic::catch_unwind(|| K::Binding::parse(input)) {
            Err(_) => panic!("parsing {url:?} panicked"),
            Ok(Err(f)) => assert!(
                !f.message.contains("planted") && !f.remedy.contains("planted"),
                "{url:?}: {}",
                f.message
            ),
            Ok(Ok(b)) => {
                if let Some(pw) = b.password().filter(|p| !p.value.expose_secret().is_empty()) {
                    let secret = pw.value.expose_secret();
                    assert!(
                        !format!("{b:?}").contains(secret),
                        "{url:?}: Debug shows the password"
                    );
                    assert!(
                        !b.target().contains(secret),
                        "{url:?}: the target shows the password"
                    );
                }
            }
        }
    }
}

fn policy() -> Policy {
    ResourceSpec::new(RESOURCE, "any").policy
}

fn sample<S: Service>(host: &str) -> String {
    S::sample_url(host, 7000)
}

/// A verified URL is judged clean; the password is read, sourced, and not in `Debug`; the CA
/// and a client certificate are read, the client key as a secret file.
pub fn a_verified_url_is_clean<K: Kind, S: Service>() {
    let (b, f) = judged::<K>(
        url_input(RESOURCE, URL_VAR, &sample::<S>("db.internal")),
        &policy(),
    )
    .unwrap();
    assert!(f.is_empty(), "{f:#?}");
    assert!(!b.transport().is_plaintext());
    assert_eq!(b.user(), Some("app"));
    let pw = b.password().expect("the password");
    assert_eq!(pw.value.expose_secret(), PASSWORD);
    assert_eq!(pw.source.to_string(), format!("password in env {URL_VAR}"));
    assert!(b.target().contains("db.internal"), "{}", b.target());
    assert!(!format!("{b:?}").contains(PASSWORD));
    assert!(!b.target().contains(PASSWORD));
    match &b.transport().tls.roots {
        Roots::PemFile(ca) => {
            assert_eq!(ca.value, Path::new("/ca.pem"));
            assert!(ca.source.to_string().contains(URL_VAR), "{}", ca.source);
        }
        other => panic!("the binding's CA is not read: {other:?}"),
    }
    assert!(b.transport().tls.identity.is_none());

    let url = S::with_client_cert(
        &sample::<S>("db.internal"),
        Path::new("/c.pem"),
        Path::new("/k.pem"),
    );
    let (b, _) = judged::<K>(url_input(RESOURCE, URL_VAR, &url), &policy()).unwrap();
    assert!(
        b.transport().tls.identity.is_some(),
        "the client certificate is read"
    );
    assert!(
        b.secret_files().contains(&PathBuf::from("/k.pem")),
        "the client key is a secret file: {:?}",
        b.secret_files()
    );
}

/// Each weak TLS mode is one high finding naming where it was set, and attache still connects
/// with TLS verified.
pub fn weak_modes_are_high_and_attache_still_verifies<K: Kind, S: Service>() {
    let weak = S::weak_tls(&sample::<S>("db.internal"));
    assert!(!weak.is_empty());
    for (url, check) in weak {
        let (b, f) = judged::<K>(url_input(RESOURCE, URL_VAR, &url), &policy()).unwrap();
        assert_eq!(f.len(), 1, "{url}: {f:#?}");
        assert_eq!(
            (f[0].check, f[0].severity),
            (check, Severity::High),
            "{url}"
        );
        assert!(
            f[0].message.contains(&format!("env {URL_VAR}")),
            "{}",
            f[0].message
        );
        assert!(!f[0].message.contains(PASSWORD));
        assert!(
            !b.transport().is_plaintext(),
            "{url}: attache never connects weaker"
        );
    }
}

/// Plaintext is info to loopback, high elsewhere, and high anywhere under `tls = "required"`.
pub fn plaintext_is_info_on_loopback_and_high_elsewhere<K: Kind, S: Service>() {
    let plain = |host: &str| S::plaintext(&sample::<S>(host));
    let tls_check = |url: &str, policy: &Policy| {
        let (b, f) = judged::<K>(url_input(RESOURCE, URL_VAR, url), policy).unwrap();
        assert!(b.transport().is_plaintext(), "{url}");
        let f: Vec<_> = f.iter().map(|f| (f.check, f.severity)).collect();
        assert_eq!(f.len(), 1, "{url}: {f:?}");
        f[0]
    };
    assert_eq!(
        tls_check(&plain("127.0.0.1"), &policy()),
        (CheckId::TlsPlaintext, Severity::Info)
    );
    assert_eq!(
        tls_check(&plain("db.example.com"), &policy()),
        (CheckId::TlsPlaintext, Severity::High)
    );
    let mut strict = policy();
    strict.tls = TlsRequirement::Required;
    assert_eq!(
        tls_check(&plain("localhost"), &strict),
        (CheckId::TlsPlaintext, Severity::High)
    );
}

/// Bad ports, hosts, unknown parameters and schemes name their field and source, never a secret.
pub fn invalid_bindings_name_field_and_source_but_no_secret<K: Kind, S: Service>() {
    let url = sample::<S>("db");
    let (scheme, _) = url.split_once("://").unwrap();
    let with_query = |extra: &str| {
        if url.contains('?') {
            format!("{url}&{extra}")
        } else {
            format!("{url}?{extra}")
        }
    };
    for (bad, field) in [
        (url.replace("@db:7000", "@db:notaport"), "port"),
        (url.replace("@db:7000", "@db:0"), "port"),
        (url.replace("@db:7000", "@:7000"), "host"),
        (url.replace("@db:7000", "@a,b:7000"), "host"),
        (url.replace("@db:7000", "@[::1:7000"), "host"),
        (with_query("planted-2=x"), "URL"),
        (url.replacen(scheme, "nowhere", 1), "URL"),
    ] {
        assert_invalid::<K>(URL_VAR, &bad, field);
    }
}

/// A password in the URL and another in a password file is `binding-invalid`, naming both
/// sources and neither password.
pub fn two_different_passwords_are_invalid<K: Kind, S: Service>() {
    let mut input = url_input(RESOURCE, URL_VAR, &sample::<S>("db"));
    input.password = Some(Sourced::new(
        Secret::new("planted-two".into()),
        Source::File("/run/secrets/pw".into()),
    ));
    let f = K::Binding::parse(input).expect_err("two passwords are refused");
    assert_eq!(f.check, CheckId::BindingInvalid);
    assert!(
        f.message.contains("/run/secrets/pw") && f.message.contains(&format!("env {URL_VAR}")),
        "{}",
        f.message
    );
    assert!(!f.message.contains("planted"), "{}", f.message);
}

/// Every prefix of the sample URL, and the sample with each character replaced by one that
/// means something in a URL, parses or is refused without a panic and without the password.
pub fn odd_input_never_panics_nor_echoes_the_password<K: Kind, S: Service>() {
    let url = sample::<S>("db");
    let mut cases: Vec<String> = (0..url.len())
        .filter(|i| url.is_char_boundary(*i))
        .map(|i| url[..i].to_owned())
        .collect();
    for (i, _) in url.char_indices() {
        for c in [
            "%", "@", "[", ":", "/", "?", "#", "&", "=", "ü", "\u{0}", "%ZZ",
        ] {
            let mut odd = url.clone();
            odd.replace_range(i..i + url[i..].chars().next().unwrap().len_utf8(), c);
            cases.push(odd);
        }
    }
    assert_never_panics::<K>(cases);
}

/// A Kubernetes service-binding directory (`type`, `host`, `port`, `username`, `password`,
/// `ca.crt`, …) is read through core's discovery with every value sourced to its file, and a
/// directory of another `type` is `binding-invalid`.
pub fn service_binding_directory_is_read_with_sources<K: Kind, S: Service>() {
    let root = tempfile::tempdir().unwrap();
    let pki = Pki::new(&root.path().join("pki"));
    let login = Login {
        user: "app".into(),
        password: PASSWORD.into(),
        port: 7000,
        database: Some("7".into()),
        ca_path: pki.ca_path(),
        url: String::new(),
        url_without_password: String::new(),
    };
    let mut dir = BindingDir::new(root.path(), RESOURCE);
    dir.publish(&S::binding_files(&login));
    let env = Environment::from_pairs([(
        "SERVICE_BINDING_ROOT",
        root.path().to_string_lossy().into_owned(),
    )]);
    let spec = ResourceSpec::new(RESOURCE, S::KIND);
    let read = |env: &Environment| {
        let input = attache_core::discover::discover(&spec, env, K::SURFACE.binding_files)?;
        judged::<K>(input, &spec.policy)
    };
    let (b, f) = read(&env).expect("the binding directory reads");
    assert!(f.is_empty(), "{f:#?}");
    assert_eq!(b.user(), Some("app"));
    let file = |name: &str| format!("file {}", root.path().join(RESOURCE).join(name).display());
    let pw = b.password().expect("the password");
    assert_eq!(pw.value.expose_secret(), PASSWORD);
    assert_eq!(pw.source.to_string(), file("password"));
    assert_eq!(
        b.origin().map(ToString::to_string),
        Some(format!("file {}", root.path().join(RESOURCE).display()))
    );
    assert!(
        b.secret_files().iter().any(|p| p.ends_with("password")),
        "{:?}",
        b.secret_files()
    );
    assert!(b.target().contains(":7000"), "{}", b.target());

    let mut files = S::binding_files(&login);
    for (name, value) in &mut files {
        if *name == "type" {
            *value = "no-such-kind".into();
        }
    }
    dir.publish(&files);
    let f = read(&env).expect_err("another type is refused");
    assert_eq!(f.check, CheckId::BindingInvalid);
    assert!(f.message.contains("type"), "{}", f.message);
}

/// Writes one `#[test]` per binding promise for kind `$kind` with the test kit's `$server`.
/// With `; "RESOURCE" in "VAR"` it also writes `fn judged(url) -> Judged<$kind>`, the URL in
/// `VAR` parsed and judged under the default policy, for the kind's own cases.
#[macro_export]
macro_rules! binding_suite {
    ($kind:ty, $server:ty; $resource:literal in $var:literal) => {
        $crate::binding_suite!($kind, $server);

        fn judged(url: &str) -> $crate::binding_contract::Judged<$kind> {
            $crate::binding_contract::judge_default::<$kind>($resource, $var, url)
        }
    };
    ($kind:ty, $server:ty) => {
        $crate::binding_suite!(@tests $kind, $server;
            a_verified_url_is_clean,
            weak_modes_are_high_and_attache_still_verifies,
            plaintext_is_info_on_loopback_and_high_elsewhere,
            invalid_bindings_name_field_and_source_but_no_secret,
            two_different_passwords_are_invalid,
            odd_input_never_panics_nor_echoes_the_password,
            service_binding_directory_is_read_with_sources,
        );
    };
    (@tests $kind:ty, $server:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::binding_contract::$name::<$kind, $server>();
            }
        )*
    };
}
