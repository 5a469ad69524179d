//! What the account can see of itself, without side effects.
//!
//! AMQP has no way to ask for one's own permissions, and RabbitMQ shows permission regexes
//! only to users with the `administrator` tag. What an account can learn, it learns by trying
//! operations whose permission check comes first and whose effect, once allowed, is nothing.
//! RabbitMQ checks permission before existence, and a refusal (403) or a missing resource
//! (404) closes only the channel, so each probe takes a channel of its own:
//!
//! | permission | probe | allowed | denied |
//! |---|---|---|---|
//! | configure, on a name that does not exist | `queue.delete` (`if-unused`, `if-empty`) or `exchange.delete` (`if-unused`) | `delete-ok`, nothing deleted | 403 |
//! | configure, on a name that exists | `queue.declare` / `exchange.declare`, not passive: the same properties change nothing, others are refused with 406 after the permission check | `declare-ok` or 406 | 403 |
//! | write | `queue.unbind(name, <random exchange>, <random key>)`: write on the queue name is checked first, and no such binding exists | `unbind-ok`, or 403 naming the random exchange | 403 naming `name` |
//! | read | `queue.unbind(<a name it may write>, name, <random key>)` | `unbind-ok` | 403 naming `name` |
//! | read, on a queue that does not exist, when no writable name is known | `basic.get` | 404 | 403 |
//! | topic read on an existing topic exchange | `queue.unbind(<random name>, exchange, key)` | `unbind-ok` | 403 naming the topic |
//!
//! Whether a permission reaches beyond the needs is probed the same way with a random name
//! (`attache.probe.<random>`): a permission that allows a random name allows (nearly) any name.
//! What no probe can show stays unknown and is said: the regexes themselves, topic write
//! permission (only publishing checks it, and attache never publishes to probe), read on a
//! queue that exists when the account may write to no name attache knows (reading would take
//! a message).
//!
//! Two more things are read: whether the same credentials open the vhost `/` (another vhost,
//! another set of permissions), and, where the binding names the management API, the
//! account's tags (`GET /api/whoami` over verified HTTPS: 401 "Not management user" means no
//! tags).
//!
//! Every refused probe is logged by the broker (`operation … caused a channel exception
//! ACCESS_REFUSED`); they are few: one per permission and need.

use std::time::Duration;

use attache_core::Failure;
use attache_core::tls::TlsClient;
use lapin::options::{
    BasicGetOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ErrorKind, ExchangeKind};
use serde::Serialize;

use crate::binding::AmqpBinding;
use crate::connect::{self, AmqpConn};
use crate::needs::{Need, Object, Verb};

pub use attache_core::Answer;

/// The account's tags, or why they could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tags {
    /// As `/api/whoami` gave them (empty: "Not management user").
    Read(Vec<String>),
    /// Why not.
    Unreadable(String),
}

/// What inspection read of the account.
#[derive(Debug, Clone)]
pub struct Posture {
    /// The user.
    pub user: String,
    /// The binding's vhost.
    pub vhost: String,
    /// Its tags.
    pub tags: Tags,
    /// For each permission, whether it allows a random name (a name outside the needs).
    pub beyond: Vec<(Verb, Answer)>,
    /// Each need and whether it is granted.
    pub needs: Vec<(Need, Answer)>,
    /// Whether the same credentials open the vhost `/` (when the binding's is another).
    pub default_vhost: Option<Answer>,
}

/// The outcome of one AMQP operation, by reply code.
enum Outcome {
    Ok,
    Refused(String),
    NotFound,
    Precondition,
    Failed(String),
}

fn outcome<T>(result: Result<T, lapin::Error>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(e) => match e.kind() {
            ErrorKind::ProtocolError(amqp) => match amqp.get_id() {
                403 => Outcome::Refused(amqp.get_message().to_string()),
                404 => Outcome::NotFound,
                405 | 406 => Outcome::Precondition,
                code => Outcome::Failed(format!("{code} {}", amqp.get_message())),
            },
            _ => Outcome::Failed(e.to_string()),
        },
    }
}

/// `text` with every random probe name written `attache.probe.<random>`, so that reports of
/// the same account are the same from run to run.
pub fn stable(text: &str) -> String {
    const PREFIX: &str = "attache.probe.";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(PREFIX) {
        out.push_str(&rest[..at + PREFIX.len()]);
        out.push_str("<random>");
        rest = &rest[at + PREFIX.len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
            .unwrap_or(rest.len());
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A name no one uses: `attache.probe.<random>`.
fn random_name(what: &str) -> String {
    format!(
        "attache.probe.{what}.{}",
        attache_core::probe::unique_suffix()
    )
}

/// One probe's channel; closed politely when the probe left it open.
async fn with_channel<F, Fut>(conn: &Connection, probe: F) -> Outcome
where
    F: FnOnce(Channel) -> Fut,
    Fut: std::future::Future<Output = (Channel, Outcome)>,
{
    let channel = match conn.create_channel().await {
        Ok(c) => c,
        Err(e) => return Outcome::Failed(format!("cannot open a channel: {e}")),
    };
    let (channel, out) = probe(channel).await;
    if channel.status().connected() {
        let _ = channel.close(200, "attache probe done".into()).await;
    }
    out
}

async fn queue_exists(conn: &Connection, name: &str) -> Outcome {
    with_channel(conn, |ch| async move {
        let out = outcome(
            ch.queue_declare(
                name.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await,
        );
        (ch, out)
    })
    .await
}

async fn exchange_exists(conn: &Connection, name: &str) -> Outcome {
    with_channel(conn, |ch| async move {
        let out = outcome(
            ch.exchange_declare(
                name.into(),
                ExchangeKind::Direct,
                ExchangeDeclareOptions {
                    passive: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await,
        );
        (ch, out)
    })
    .await
}

/// `queue.unbind(queue, exchange, key)`: checks write on `queue`, then read on `exchange`
/// (and topic read on `key` for a topic exchange); unbinds nothing when no such binding exists.
async fn unbind(conn: &Connection, queue: &str, exchange: &str, key: &str) -> Outcome {
    with_channel(conn, |ch| async move {
        let out = outcome(
            ch.queue_unbind(
                queue.into(),
                exchange.into(),
                key.into(),
                FieldTable::default(),
            )
            .await,
        );
        (ch, out)
    })
    .await
}

fn denied_or_unknown(out: Outcome, what: &str) -> Answer {
    match out {
        Outcome::Ok | Outcome::Precondition => Answer::Allowed,
        Outcome::Refused(said) => Answer::Denied(stable(&said)),
        Outcome::NotFound => Answer::Unknown(stable(&format!("{what}: the broker answered 404"))),
        Outcome::Failed(why) => Answer::Unknown(stable(&format!("{what}: {why}"))),
    }
}

/// Configure on `name`: declare it as it is if it exists, delete it if unused and empty if
/// it does not (a no-op either way).
async fn configure(conn: &Connection, object: Object, name: &str) -> Answer {
    let exists = match object {
        Object::Queue => queue_exists(conn, name).await,
        Object::Exchange => exchange_exists(conn, name).await,
    };
    let out = match (object, exists) {
        (Object::Queue, Outcome::Ok) => {
            with_channel(conn, |ch| async move {
                let out = outcome(
                    ch.queue_declare(
                        name.into(),
                        QueueDeclareOptions::default(),
                        FieldTable::default(),
                    )
                    .await,
                );
                (ch, out)
            })
            .await
        }
        (Object::Queue, Outcome::NotFound) => {
            with_channel(conn, |ch| async move {
                let out = outcome(
                    ch.queue_delete(
                        name.into(),
                        QueueDeleteOptions {
                            if_unused: true,
                            if_empty: true,
                            nowait: false,
                        },
                    )
                    .await,
                );
                (ch, out)
            })
            .await
        }
        (Object::Exchange, Outcome::Ok) => {
            with_channel(conn, |ch| async move {
                let out = outcome(
                    ch.exchange_declare(
                        name.into(),
                        ExchangeKind::Direct,
                        ExchangeDeclareOptions::default(),
                        FieldTable::default(),
                    )
                    .await,
                );
                (ch, out)
            })
            .await
        }
        (Object::Exchange, Outcome::NotFound) => {
            with_channel(conn, |ch| async move {
                let out = outcome(
                    ch.exchange_delete(
                        name.into(),
                        ExchangeDeleteOptions {
                            if_unused: true,
                            nowait: false,
                        },
                    )
                    .await,
                );
                (ch, out)
            })
            .await
        }
        (_, other) => other,
    };
    denied_or_unknown(out, &format!("configure on {} {name}", object.as_str()))
}

/// Write on `name`, whatever its type: `queue.unbind(name, <random>, <random>)`.
async fn write(conn: &Connection, name: &str) -> Answer {
    let exchange = random_name("exchange");
    match unbind(conn, name, &exchange, &random_name("key")).await {
        Outcome::Ok => Answer::Allowed,
        // Write on `name` passed; read on the random exchange did not.
        Outcome::Refused(said) if said.contains(&format!("'{exchange}'")) => Answer::Allowed,
        other => denied_or_unknown(other, &format!("write on {name}")),
    }
}

/// Read on `name` through a name the account may write (`writable`), or, for a queue that
/// does not exist, `basic.get`.
async fn read(conn: &Connection, object: Object, name: &str, writable: Option<&str>) -> Answer {
    if let Some(w) = writable {
        return match unbind(conn, w, name, &random_name("key")).await {
            Outcome::Refused(said) if said.contains(&format!("'{w}'")) => Answer::Unknown(stable(
                &format!("read on {name}: the name used to probe it ({w}) was refused for write"),
            )),
            other => denied_or_unknown(other, &format!("read on {name}")),
        };
    }
    if object == Object::Queue && matches!(queue_exists(conn, name).await, Outcome::NotFound) {
        let out = with_channel(conn, |ch| async move {
            let out = outcome(
                ch.basic_get(name.into(), BasicGetOptions { no_ack: false })
                    .await,
            );
            (ch, out)
        })
        .await;
        return match out {
            Outcome::NotFound => Answer::Allowed,
            Outcome::Refused(said) => Answer::Denied(stable(&said)),
            Outcome::Ok => Answer::Unknown(format!(
                "read on {name}: the queue appeared while it was probed"
            )),
            Outcome::Precondition | Outcome::Failed(_) => {
                denied_or_unknown(out, &format!("read on {name}"))
            }
        };
    }
    Answer::Unknown(format!(
        "read on {} {name}: the account may write to no name attache knows, and reading an existing queue would take a message",
        object.as_str()
    ))
}

/// Topic read on `exchange` for binding key `key`, through a random name the account may
/// write.
async fn topic_read(conn: &Connection, exchange: &str, key: &str, random: Option<&str>) -> Answer {
    let Some(w) = random else {
        return Answer::Unknown(format!(
            "topic read on {exchange}: probing it needs a name the account may write that binds nothing, and it may write none outside its needs"
        ));
    };
    if !matches!(exchange_exists(conn, exchange).await, Outcome::Ok) {
        return Answer::Unknown(format!(
            "topic read on {exchange}: the exchange does not exist (yet), and RabbitMQ checks topic permissions only on an existing topic exchange"
        ));
    }
    match unbind(conn, w, exchange, key).await {
        Outcome::Ok => Answer::Allowed,
        Outcome::Refused(said) if said.contains("topic") => Answer::Denied(stable(&said)),
        Outcome::Refused(said) => {
            Answer::Unknown(stable(&format!("topic read on {exchange}: {said}")))
        }
        other => denied_or_unknown(other, &format!("topic read on {exchange}")),
    }
}

/// Reads the account's posture through `conn`: the probes above, the vhost `/`, the tags.
pub async fn inspect(
    conn: &AmqpConn,
    needs: &[Need],
    b: &AmqpBinding,
    tls: Option<&TlsClient>,
    timeout: Duration,
) -> Posture {
    let conn = &conn.connection;
    let mut beyond = Vec::new();
    // Configure and read beyond the needs: a random queue name.
    let configure_any = configure(conn, Object::Queue, &random_name("queue")).await;
    beyond.push((Verb::Configure, configure_any));
    let random_writable = random_name("queue");
    let write_any = write(conn, &random_writable).await;
    let writable_random = (write_any == Answer::Allowed).then_some(random_writable.as_str());
    beyond.push((Verb::Write, write_any.clone()));
    let read_any = match writable_random {
        Some(w) => read(conn, Object::Exchange, &random_name("exchange"), Some(w)).await,
        None => read(conn, Object::Queue, &random_name("queue"), None).await,
    };
    beyond.push((Verb::Read, read_any));

    let mut answers: Vec<(Need, Answer)> = Vec::new();
    for need in needs.iter().filter(|n| n.verb() != Verb::Read) {
        let answer = match need {
            Need::Resource {
                verb: Verb::Configure,
                object,
                name,
            } => configure(conn, *object, name).await,
            Need::Resource { name, .. } => write(conn, name).await,
            Need::Topic { exchange, .. } => Answer::Unknown(format!(
                "topic write on {exchange}: only publishing checks it, and attache never publishes to probe"
            )),
        };
        answers.push((need.clone(), answer));
    }
    // A name the account may write, to probe reads with: a random one if it may write any,
    // else one of its needs that was allowed.
    let writable = writable_random.map(str::to_owned).or_else(|| {
        answers.iter().find_map(|(n, a)| match (n, a) {
            (Need::Resource { name, .. }, Answer::Allowed) if n.verb() == Verb::Write => {
                Some(name.clone())
            }
            _ => None,
        })
    });
    for need in needs.iter().filter(|n| n.verb() == Verb::Read) {
        let answer = match need {
            Need::Resource { object, name, .. } => {
                read(conn, *object, name, writable.as_deref()).await
            }
            Need::Topic { exchange, key, .. } => {
                topic_read(conn, exchange, key, writable_random).await
            }
        };
        answers.push((need.clone(), answer));
    }
    // In the needs' order.
    let needs_in_order = needs
        .iter()
        .filter_map(|n| answers.iter().find(|(m, _)| m == n).cloned())
        .collect();

    let default_vhost = if b.vhost.value == "/" {
        None
    } else {
        Some(match connect::open(b, "/", tls, timeout).await {
            Ok((other, _)) => {
                let _ = other.close(200, "attache: done".into()).await;
                Answer::Allowed
            }
            Err(Failure::DatabaseDenied(said) | Failure::UnknownDatabase(said)) => {
                Answer::Denied(said)
            }
            Err(other) => Answer::Unknown(format!("opening the vhost /: {other:?}")),
        })
    };
    let tags = tags(b, tls, timeout).await;
    Posture {
        user: b.user_name().to_owned(),
        vhost: b.vhost.value.clone(),
        tags,
        beyond,
        needs: needs_in_order,
        default_vhost,
    }
}

/// The account's tags from the management API's `/api/whoami`, over verified HTTPS only.
async fn tags(b: &AmqpBinding, tls: Option<&TlsClient>, timeout: Duration) -> Tags {
    let Some(base) = &b.management else {
        return Tags::Unreadable(
            "the account's user tags (RabbitMQ shows them only through the management API, and the binding names none: add management=https://<host>:15671 to it)".into(),
        );
    };
    let Some(tls) = tls else {
        return Tags::Unreadable(
            "the account's user tags (the binding is plaintext, and attache sends a password to the management API only over verified TLS)".into(),
        );
    };
    let client = match reqwest::Client::builder()
        .use_preconfigured_tls((*tls.config()).clone())
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => return Tags::Unreadable(format!("the account's user tags: {e}")),
    };
    let password = b
        .common
        .password
        .as_ref()
        .map(|p| p.value.expose_secret().to_owned());
    let response = client
        .get(format!("{}/api/whoami", base.value))
        .basic_auth(b.user_name(), password)
        .send()
        .await;
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            let why = attache_core::failure::chain(&e);
            return Tags::Unreadable(format!(
                "the account's user tags: the management API at {} could not be reached over verified TLS: {}",
                base.value,
                why.replace(&base.value, "<management>")
            ));
        }
    };
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if status.is_success() {
        let tags = match &body["tags"] {
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect(),
            // Before 3.9 the tags were one comma-separated string.
            serde_json::Value::String(s) => s
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        return Tags::Read(tags);
    }
    let reason = body["reason"].as_str().unwrap_or_default();
    if status.as_u16() == 401 && reason.contains("Not management user") {
        return Tags::Read(Vec::new());
    }
    Tags::Unreadable(format!(
        "the account's user tags: the management API answered {status}{}",
        if reason.is_empty() {
            String::new()
        } else {
            format!(" ({reason})")
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_names_are_written_the_same_every_run() {
        let said = format!(
            "ACCESS_REFUSED - access to queue '{}' in vhost 'v' refused",
            random_name("queue")
        );
        assert_eq!(
            stable(&said),
            "ACCESS_REFUSED - access to queue 'attache.probe.<random>' in vhost 'v' refused"
        );
        assert_eq!(stable("no probe here"), "no probe here");
    }
}
