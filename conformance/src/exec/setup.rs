//! Setup calls: through the public API, with the group aliases and the ledger they fill.

use serde_json::{json, Value};

use super::{compact, Abort, CaseRun};
use crate::case::SetupCall;
use crate::check;
use crate::report::ExchangeKind;
use crate::target::{Body, Reply};
use crate::template::GroupVar;

impl CaseRun<'_> {
    pub(super) async fn setup(&mut self, i: usize, s: &crate::case::Setup) -> Result<(), Abort> {
        let at = format!("setup[{i}]");
        let mut body = self.vars.expand(&s.body)?;
        let cmd = s.call.command();
        if let (Some(alias), Some(obj)) = (&s.group, body.as_object_mut()) {
            if !obj.contains_key("GroupId") && !s.server_id {
                let id = self.vars.group(alias).id.clone();
                obj.insert("GroupId".into(), json!(id));
            }
        }
        if matches!(s.call, SetupCall::ImportGroup | SetupCall::CreateGroup) {
            if let Some(alias) = &s.group {
                let create = body
                    .get("CreateTime")
                    .and_then(Value::as_i64)
                    .unwrap_or(self.vars.now);
                let id = self.vars.group(alias).id.clone();
                self.vars.groups.insert(
                    alias.clone(),
                    GroupVar {
                        id,
                        create: Some(create),
                        server_assigned: false,
                    },
                );
            }
        }
        let (req, reply) = self
            .send(
                ExchangeKind::Setup,
                cmd.path(),
                "POST",
                None,
                Body::Json(body.clone()),
            )
            .await?;
        if reply.http != 200 || !check::is_ok(&reply) {
            let e = self
                .transcript
                .last()
                .map(|e| e.response.clone())
                .unwrap_or_default();
            return Err(Abort::Setup(format!(
                "{at} {} failed: {}",
                cmd.name(),
                compact(&e)
            )));
        }
        let alias = s.group.clone().or_else(|| {
            body.get("GroupId")
                .and_then(Value::as_str)
                .and_then(|id| self.vars.alias_of(id))
                .map(str::to_owned)
        });
        match s.call {
            SetupCall::ImportGroup | SetupCall::CreateGroup if s.server_id => {
                let (Some(alias), Some(id)) =
                    (&s.group, reply.body.get("GroupId").and_then(Value::as_str))
                else {
                    return Err(Abort::Setup(format!("{at}: the response has no GroupId")));
                };
                if let Some(g) = self.vars.groups.get_mut(alias) {
                    g.id = id.to_owned();
                    g.server_assigned = true;
                }
                // Redact the answer again, now that the ID has a name.
                self.transcript.pop();
                let ex = self
                    .redactor
                    .exchange(&self.vars, ExchangeKind::Setup, &req, &reply);
                self.transcript.push(ex);
            }
            SetupCall::DestroyGroup => {
                if let Some(a) = alias {
                    self.vars.ledger.forget(&a);
                }
            }
            SetupCall::ImportGroupMsg => {
                if let Some(a) = alias {
                    self.import_checks(&body, &reply, &a, &at);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The automatic invariants of an OK import answer.
    pub(super) fn import_checks(&mut self, body: &Value, reply: &Reply, alias: &str, at: &str) {
        if reply.http != 200 || !check::is_ok(reply) {
            return;
        }
        // A `MsgList` that is not an array (digest Q14: a lenient server may take an object as
        // one message) has no message count to hold the answer to: no automatic checks.
        let Some(msgs) = body.get("MsgList").and_then(Value::as_array).cloned() else {
            return;
        };
        let f = check::import_invariants(&msgs, reply, alias, &mut self.vars.ledger, at);
        self.push_failures(f);
    }
}
