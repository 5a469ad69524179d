//! What the account can see of itself, without side effects.
//!
//! - **`$SYS.REQ.USER.INFO`** (nats-server 2.10 and later): a request the server answers with
//!   the caller's user, account and exact permissions (allow and deny lists for publish and
//!   subscribe). No `permissions` in the answer means none are set: everything in the account.
//!   The account needs publish on that subject and subscribe on its inbox to ask.
//! - **`$SYS.REQ.SERVER.PING`**: only a user of the system account gets an answer (the servers'
//!   statistics); any other gets "no responders".
//! - Where the account may not ask (or the server is older): **subscriptions** are a safe probe.
//!   A denied `SUB` gets a permissions error before the `PONG` of a flush, and an allowed one
//!   is removed at once. A wildcard subscription that overlaps a deny is accepted (the server
//!   filters at delivery), so an allowed probe does not prove every subject under it is
//!   readable: said as unknown where it matters. **Publishing is never probed** (an allowed
//!   publish is delivered): publish rights stay unknown without `USER.INFO`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::connect::Errors;
use crate::needs::{Need, Verb};

/// Allow and deny lists for one verb.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lists {
    /// Allowed subjects (an entry may carry a queue group after a space).
    #[serde(default)]
    pub allow: Vec<String>,
    /// Denied subjects.
    #[serde(default)]
    pub deny: Vec<String>,
}

/// The account's permissions as `USER.INFO` gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    /// Publish lists; absent: every subject.
    #[serde(default)]
    pub publish: Option<Lists>,
    /// Subscribe lists; absent: every subject.
    #[serde(default)]
    pub subscribe: Option<Lists>,
}

pub use attache_core::Answer;

/// How the permissions were learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Read exactly; `None`: no permissions set (everything in the account).
    Read(Option<Permissions>),
    /// Probed: each subscribe need, and whether subscribing to `>` is allowed; why they could
    /// not be read.
    Probed {
        /// Why `USER.INFO` did not answer.
        why: String,
        /// Each subscribe need's answer.
        subscribe: Vec<(Need, Answer)>,
        /// Whether `SUB >` was allowed.
        everything: Answer,
    },
}

/// What inspection read of the account.
#[derive(Debug, Clone)]
pub struct Posture {
    /// The user (or `token` for a token).
    pub user: String,
    /// The account, when the server said.
    pub account: Option<String>,
    /// Its permissions.
    pub seen: Seen,
    /// Whether it is a user of the system account.
    pub system: Answer,
    /// The needs.
    pub needs: Vec<Need>,
    /// The inbox prefix attache asked with (its subscribe permission is attache's own).
    pub inbox: String,
}

#[derive(Deserialize)]
struct UserInfo {
    data: Option<UserData>,
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct UserData {
    account: Option<String>,
    permissions: Option<Permissions>,
}

/// `perms` with every list sorted: the server gives them in no fixed order, and reports must
/// be the same from run to run.
fn sorted(mut perms: Permissions) -> Permissions {
    for lists in [&mut perms.publish, &mut perms.subscribe]
        .into_iter()
        .flatten()
    {
        lists.allow.sort();
        lists.deny.sort();
    }
    perms
}

/// The server errors received so far that mention `needle`.
fn errors_about(errors: &Errors, needle: &str) -> Option<String> {
    errors
        .lock()
        .ok()?
        .iter()
        .find(|e| e.contains(needle))
        .cloned()
}

/// Waits until a flush has come back (every error about what was sent before it has arrived,
/// the server answering in order), then a little for the client to pass them on.
async fn settle(client: &async_nats::Client) {
    let _ = client.flush().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// One subscription probe: subscribe (in `queue`'s group), flush, read the errors, unsubscribe.
async fn subscribe(
    client: &async_nats::Client,
    errors: &Errors,
    subject: &str,
    queue: Option<&str>,
) -> Answer {
    let sub = match queue {
        Some(q) => {
            client
                .queue_subscribe(subject.to_owned(), q.to_owned())
                .await
        }
        None => client.subscribe(subject.to_owned()).await,
    };
    let mut sub = match sub {
        Ok(s) => s,
        Err(e) => return Answer::Unknown(format!("subscribe {subject}: {e}")),
    };
    settle(client).await;
    let _ = sub.unsubscribe().await;
    match errors_about(errors, &format!("Subscription to \"{subject}\"")) {
        Some(said) => Answer::Denied(said),
        None => Answer::Allowed,
    }
}

/// What asking `subject` gave.
enum Asked {
    Answer(async_nats::Message),
    NoResponders,
    Refused(String),
    Failed(String),
}

/// A request to `subject` that ends as soon as the server refuses it (a permissions error,
/// which arrives on its own, not as the request's answer), or when it is answered, or after
/// `timeout`.
async fn ask(
    client: &async_nats::Client,
    errors: &Errors,
    subject: &str,
    timeout: Duration,
) -> Asked {
    let request = async_nats::Request::new().timeout(Some(timeout));
    let answer = client.send_request(subject.to_owned(), request);
    let refused = async {
        loop {
            if let Some(said) = errors_about(errors, &format!("Publish to \"{subject}\"")) {
                return said;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::select! {
        answer = answer => match answer {
            Ok(message) => Asked::Answer(message),
            Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders => Asked::NoResponders,
            Err(e) => match errors_about(errors, &format!("Publish to \"{subject}\"")) {
                Some(said) => Asked::Refused(said),
                None => Asked::Failed(e.to_string()),
            },
        },
        said = refused => Asked::Refused(said),
    }
}

/// Reads the account's posture through `client` (connected with `errors` recording the
/// server's errors).
pub async fn inspect(
    client: &async_nats::Client,
    errors: &Errors,
    needs: &[Need],
    user: &str,
    inbox: &str,
    timeout: Duration,
) -> Posture {
    let system = match ask(client, errors, "$SYS.REQ.SERVER.PING", timeout).await {
        Asked::Answer(_) => Answer::Allowed,
        Asked::NoResponders => Answer::Denied("no responders: not the system account".into()),
        Asked::Refused(said) => Answer::Denied(said),
        Asked::Failed(why) => Answer::Unknown(format!("$SYS.REQ.SERVER.PING: {why}")),
    };
    let (account, seen) = match ask(client, errors, "$SYS.REQ.USER.INFO", timeout).await {
        Asked::Answer(message) => match serde_json::from_slice::<UserInfo>(&message.payload) {
            Ok(UserInfo {
                data: Some(data), ..
            }) => (data.account, Seen::Read(data.permissions.map(sorted))),
            Ok(UserInfo { error, .. }) => {
                let why = format!(
                    "$SYS.REQ.USER.INFO answered an error: {}",
                    error.unwrap_or_default()
                );
                (None, probe(client, errors, needs, why).await)
            }
            Err(e) => {
                let why = format!("$SYS.REQ.USER.INFO's answer does not parse: {e}");
                (None, probe(client, errors, needs, why).await)
            }
        },
        Asked::Refused(said) => {
            let why = format!("the account may not ask $SYS.REQ.USER.INFO ({said})");
            (None, probe(client, errors, needs, why).await)
        }
        Asked::NoResponders => {
            let why = "the server does not answer $SYS.REQ.USER.INFO (nats-server before 2.10)"
                .to_owned();
            (None, probe(client, errors, needs, why).await)
        }
        Asked::Failed(why) => {
            let why = format!("$SYS.REQ.USER.INFO: {why}");
            (None, probe(client, errors, needs, why).await)
        }
    };
    Posture {
        user: user.to_owned(),
        account,
        seen,
        system,
        needs: needs.to_vec(),
        inbox: inbox.to_owned(),
    }
}

async fn probe(client: &async_nats::Client, errors: &Errors, needs: &[Need], why: String) -> Seen {
    let mut subscribe_answers = Vec::new();
    for need in needs.iter().filter(|n| n.verb == Verb::Subscribe) {
        let answer = self::subscribe(client, errors, &need.subject, need.queue.as_deref()).await;
        subscribe_answers.push((need.clone(), answer));
    }
    let everything = self::subscribe(client, errors, ">", None).await;
    Seen::Probed {
        why,
        subscribe: subscribe_answers,
        everything,
    }
}
