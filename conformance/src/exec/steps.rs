//! The steps under test: one request and its expectations (must, should, readings), and the
//! read-back and group-info checks.

use serde_json::{json, Value};
use tim_model::Command;

use super::burst::Burst;
use super::{compact, Abort, CaseRun};
use crate::case::{Expectation, Step};
use crate::check;
use crate::clause::Strength;
use crate::report::ExchangeKind;
use crate::target::{Body, Reply};
use crate::template::TemplateError;
use crate::verdict::Failure;

impl CaseRun<'_> {
    pub(super) async fn request_step(&mut self, i: usize, step: &Step) -> Result<(), Abort> {
        let at = format!("step[{i}]");
        let exp = step.expectation().map_err(TemplateError)?;
        let should = step.should_expectation().map_err(TemplateError)?;
        let path = step.request_path().unwrap_or_default();
        let method = step.method.clone().unwrap_or_else(|| "POST".into());
        let body = self.step_body(step)?;
        let group_alias = step.group.clone().or_else(|| match &body {
            Body::Json(v) => v
                .get("GroupId")
                .and_then(Value::as_str)
                .and_then(|id| self.vars.alias_of(id))
                .map(str::to_owned),
            Body::Raw(_) => None,
        });
        if let Some(n) = &step.repeat {
            let n = self.vars.expand(n)?.as_u64().unwrap_or(0);
            // Each copy's body is expanded anew: `$messages` gives every copy its own Randoms.
            let mut bodies = vec![body];
            for _ in 1..n {
                bodies.push(self.step_body(step)?);
            }
            for b in &bodies[1..] {
                if let Body::Json(v) = b {
                    self.note_randoms(v);
                }
            }
            let before = match (&exp.stored, &group_alias) {
                (Some(_), Some(alias)) => Some(
                    self.quiet_history(alias)
                        .await?
                        .map_or(0, |h| h.len() as i64),
                ),
                (Some(_), None) => {
                    return Err(TemplateError(format!(
                        "{at}: stored needs a group (GroupId or group =)"
                    ))
                    .into())
                }
                (None, _) => None,
            };
            let first = bodies[0].clone();
            let req = self.build_request(path, &method, step.query.as_ref(), first, 0)?;
            let burst = Burst {
                req,
                bodies,
                alias: group_alias,
                imports: step.command() == Some(Command::ImportGroupMsg),
                before,
            };
            return self.repeat_step(&at, burst, &exp).await;
        }
        // `stored` may be asked for in `expect` (must), `should`, or a reading (which then matches
        // only when the count does): count the group's messages around the request.
        let wants_stored = exp.stored.is_some()
            || should.stored.is_some()
            || step.reading.iter().any(|r| r.fields.contains_key("stored"));
        let before = match (wants_stored, &group_alias) {
            (true, Some(alias)) => {
                let n = self.history(alias).await?.map_or(0, |h| h.len() as i64);
                Some((alias.clone(), n))
            }
            (true, None) => {
                return Err(TemplateError(format!(
                    "{at}: stored needs a group (GroupId or group =)"
                ))
                .into())
            }
            (false, _) => None,
        };
        let (req, reply) = self
            .send(ExchangeKind::Step, path, &method, step.query.as_ref(), body)
            .await?;
        let exchange = self.transcript.len() - 1;
        let gained = match &before {
            Some((alias, n)) => Some(self.history(alias).await?.map_or(0, |h| h.len() as i64) - n),
            None => None,
        };
        let exp = self.expand_expectation(&exp)?;
        let should = self.expand_expectation(&should)?;
        // The automatic HTTP-200 and envelope checks are must-level, unless the case moves the
        // status to `should` (`should.http` without `expect.http`): outside the API proper (unknown
        // paths, other methods) the documents only recommend an envelope (digest §7 Q19).
        let (status, strength) = match (exp.http, should.http) {
            (None, Some(h)) => (h, Strength::Should),
            (h, _) => (h.unwrap_or(200), Strength::Must),
        };
        let mut f = check::envelope(&reply, status, &at);
        f.iter_mut().for_each(|x| x.strength = strength);
        for (e, strength) in [(&exp, Strength::Must), (&should, Strength::Should)] {
            let mut m = check::expectation_mismatches(e, &reply);
            m.extend(stored_mismatch(e, gained)?);
            f.extend(check::failures(&m, &self.case_clauses(), strength, &at));
        }
        if !step.reading.is_empty() {
            let unmatched = self.readings(step, &reply, gained, &at)?;
            if unmatched.is_empty() {
                self.transcript[exchange].reading = self.reading.clone();
            }
            f.extend(unmatched);
        }
        self.push_failures(f);
        if step.command() == Some(Command::ImportGroupMsg) {
            if let (Body::Json(b), Some(alias)) = (&req.body, &group_alias) {
                self.import_checks(b, &reply, alias, &at);
            }
        }
        if step.command() == Some(Command::DestroyGroup) && check::is_ok(&reply) {
            if let Some(a) = &group_alias {
                self.vars.ledger.forget(a);
            }
        }
        Ok(())
    }

    pub(super) fn expand_expectation(
        &mut self,
        e: &Expectation,
    ) -> Result<Expectation, TemplateError> {
        let mut e = e.clone();
        for v in e.fields.values_mut() {
            *v = self.vars.expand(v)?;
        }
        if let Some(v) = &e.stored {
            e.stored = Some(self.vars.expand(v)?);
        }
        if let Some(m) = &e.members {
            e.members = Some(
                m.iter()
                    .map(|x| self.vars.expand(x))
                    .collect::<Result<_, _>>()?,
            );
        }
        Ok(e)
    }

    /// Readings: passes when any matches; records which.
    pub(super) fn readings(
        &mut self,
        step: &Step,
        reply: &Reply,
        gained: Option<i64>,
        at: &str,
    ) -> Result<Vec<Failure>, TemplateError> {
        let mut why = Vec::new();
        for r in &step.reading {
            let exp =
                self.expand_expectation(&Expectation::parse(&r.fields).map_err(TemplateError)?)?;
            let mut m = check::expectation_mismatches(&exp, reply);
            m.extend(stored_mismatch(&exp, gained)?);
            if m.is_empty() {
                self.reading = Some(r.name.clone());
                return Ok(Vec::new());
            }
            why.push(format!(
                "{}: {}",
                r.name,
                m.iter()
                    .map(|x| x.path.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(vec![Failure {
            clause: self.case_clauses(),
            strength: Strength::Must,
            at: at.to_owned(),
            message: format!("no documented reading matches ({})", why.join("; ")),
            expected: Some(json!(step
                .reading
                .iter()
                .map(|r| r.name.clone())
                .collect::<Vec<_>>())),
            actual: Some(reply.body.clone()),
        }])
    }

    /// The body of a request step, its placeholders expanded.
    pub(super) fn step_body(&mut self, step: &Step) -> Result<Body, TemplateError> {
        Ok(match (&step.body, &step.raw) {
            (_, Some(raw)) => Body::Raw(self.vars.interpolate(raw)?),
            (Some(b), None) => Body::Json(self.vars.expand(b)?),
            (None, None) => Body::Json(json!({})),
        })
    }

    pub(super) async fn readback_step(&mut self, i: usize, step: &Step) -> Result<(), Abort> {
        let at = format!("step[{i}] readback");
        let alias = step.group.clone().unwrap_or_default();
        let count = match &step.count {
            Some(c) => Some(
                self.vars
                    .expand(c)?
                    .as_u64()
                    .ok_or_else(|| TemplateError("count must be an integer".into()))?
                    as usize,
            ),
            None => None,
        };
        let history = self.history(&alias).await?.unwrap_or_default();
        let f = check::readback(&history, &self.vars.ledger, &alias, count, &at);
        self.push_failures(f);
        Ok(())
    }

    pub(super) async fn group_info_step(&mut self, i: usize, step: &Step) -> Result<(), Abort> {
        let at = format!("step[{i}] group_info");
        let alias = step.group.clone().unwrap_or_default();
        let id = self.vars.group(&alias).id.clone();
        let exp = self.expand_expectation(&step.expectation().map_err(TemplateError)?)?;
        let should = self.expand_expectation(&step.should_expectation().map_err(TemplateError)?)?;
        let reply = self
            .call(
                ExchangeKind::Check,
                Command::GetGroupInfo,
                json!({ "GroupIdList": [id] }),
            )
            .await?;
        if !check::is_ok(&reply) {
            return Err(Abort::Setup(format!(
                "get_group_info of {alias} failed: {}",
                compact(&reply.body)
            )));
        }
        let group = reply
            .body
            .get("GroupInfo")
            .and_then(|g| g.get(0))
            .cloned()
            .unwrap_or(Value::Null);
        let clauses = self.case_clauses();
        let mut f = check::failures(
            &check::group_info_mismatches(&exp, &group),
            &clauses,
            Strength::Must,
            &at,
        );
        f.extend(check::failures(
            &check::group_info_mismatches(&should, &group),
            &clauses,
            Strength::Should,
            &at,
        ));
        self.push_failures(f);
        Ok(())
    }
}

/// `stored` of an expanded expectation against the messages the group gained.
fn stored_mismatch(
    e: &Expectation,
    gained: Option<i64>,
) -> Result<Option<check::Mismatch>, TemplateError> {
    let (Some(want), Some(gained)) = (&e.stored, gained) else {
        return Ok(None);
    };
    let want = want
        .as_i64()
        .ok_or_else(|| TemplateError("stored must be an integer".into()))?;
    Ok((want != gained).then(|| check::Mismatch {
        path: "stored".into(),
        expected: json!(want),
        actual: Some(json!(gained)),
    }))
}
