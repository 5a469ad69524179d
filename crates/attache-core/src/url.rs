//! The generic syntax every kind's connection URL shares (RFC 3986):
//! `scheme://[user[:password]@]host[:port][/path][?query]`.
//!
//! Only the split lives here; each kind percent-decodes the pieces and names them in its own
//! words. Nothing here ever echoes a piece of the URL: a password may sit anywhere in it.

/// Where a server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A DNS name or an IP address.
    Tcp(String),
    /// A unix socket: the socket file, or for some servers the directory holding it.
    Socket(std::path::PathBuf),
}

impl Host {
    /// Whether the host is this machine (loopback address, `localhost`, or a unix socket).
    pub fn is_local(&self) -> bool {
        match self {
            Host::Socket(_) => true,
            Host::Tcp(h) => {
                h == "localhost"
                    || h.parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
        }
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Tcp(h) if h.contains(':') => write!(f, "[{h}]"),
            Host::Tcp(h) => f.write_str(h),
            Host::Socket(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A URL's pieces after `scheme://` (and any fragment), not yet percent-decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlParts<'a> {
    /// Before the first `:` of the user information, if there is an `@`.
    pub user: Option<&'a str>,
    /// After that `:`.
    pub password: Option<&'a str>,
    /// The host, without the brackets of an IPv6 address; may be empty.
    pub host: &'a str,
    /// After the host's `:`.
    pub port: Option<&'a str>,
    /// After the first `/` of the authority, without it; may be empty.
    pub path: &'a str,
    /// After the `?`; may be empty.
    pub query: &'a str,
}

/// Splits `rest` (a URL after its `scheme://`). The error is about the host, and says what is
/// wrong without quoting the URL.
pub fn split(rest: &str) -> Result<UrlParts<'_>, &'static str> {
    let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = main.split_once('/').unwrap_or((main, ""));
    // The last `@`: an unencoded `@` in a password then stays in the password.
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (user, password) = match userinfo.map(|u| u.split_once(':').ok_or(u)) {
        Some(Ok((u, p))) => (Some(u), Some(p)),
        Some(Err(u)) => (Some(u), None),
        None => (None, None),
    };
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or("unclosed `[` in an IPv6 host")?;
        if !after.is_empty() && !after.starts_with(':') {
            return Err("expected `:port` after `]`");
        }
        (host, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    Ok(UrlParts {
        user,
        password,
        host,
        port,
        path,
        query,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_every_piece() {
        let u = split("app:pa:ss@db.internal:5432/appdb?mode=verify-full").unwrap();
        assert_eq!(
            u,
            UrlParts {
                user: Some("app"),
                password: Some("pa:ss"),
                host: "db.internal",
                port: Some("5432"),
                path: "appdb",
                query: "mode=verify-full",
            }
        );
        let u = split("a@b@[::1]:6380").unwrap();
        assert_eq!((u.user, u.host, u.port), (Some("a@b"), "::1", Some("6380")));
        let u = split("host").unwrap();
        assert_eq!((u.user, u.password, u.port, u.path), (None, None, None, ""));
    }

    #[test]
    fn malformed_ipv6_hosts_are_refused_without_quoting() {
        assert_eq!(split("u:planted@[::1"), Err("unclosed `[` in an IPv6 host"));
        assert_eq!(split("u:planted@[::1]x"), Err("expected `:port` after `]`"));
    }
}
