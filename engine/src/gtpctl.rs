//! GTP-U's control side: the session store (sessions added, modified and
//! deleted at run time, sent to the workers) and the feature's counters.
//! The router's control state owns it when `[gtpu]` is configured; its
//! commands are `gtp-session-add`, `-mod`, `-del`, `-list`, `-show`,
//! `gtp-stats` and `gtp-peers` on the control socket (`xgw gtp ...`).

use serde_json::{json, Value};
use xgw_pipelines::gtpu::session::{
    bytes_per_session, stat, Session, COUNTERS, DL_BYTES, DL_PKTS, DROPS, UL_BYTES, UL_PKTS,
};
use xgw_pipelines::gtpu::{GtpuSpec, Sessions};

use crate::config::gtpu::{parse_session, SessionInput};

/// Commands this module answers.
pub const COMMANDS: &[&str] = &[
    "gtp-session-add",
    "gtp-session-mod",
    "gtp-session-del",
    "gtp-session-list",
    "gtp-session-show",
    "gtp-stats",
    "gtp-peers",
];

pub struct GtpControl {
    spec: GtpuSpec,
    sessions: Sessions,
}

/// Session ids from 2^63 up are PFCP's (`1 << 63 | UP SEID`).
const PFCP_OWNED: &str =
    "session ids from 2^63 up belong to PFCP sessions (the SMF changes them: see xgw pfcp sessions)";

fn err(msg: impl std::fmt::Display) -> Value {
    json!({ "error": msg.to_string() })
}

impl GtpControl {
    pub fn new(spec: &GtpuSpec, workers: usize) -> Result<Self, String> {
        Ok(GtpControl {
            spec: spec.clone(),
            sessions: Sessions::new(spec, workers)?,
        })
    }

    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// The store (tests and benches that change sessions in bulk).
    pub fn sessions_mut(&mut self) -> &mut Sessions {
        &mut self.sessions
    }

    pub(crate) fn session_json(s: &Session, c: [u64; COUNTERS]) -> Value {
        let x = &s.spec;
        json!({
            "id": x.id,
            "local": x.local.to_string(),
            "teid": x.teid,
            "ue4": x.ue4.map(|a| a.to_string()),
            "ue6": x.ue6.map(|(a, l)| format!("{a}/{l}")),
            "peer": x.peer.to_string(),
            "peer_teid": x.peer_teid,
            "qfi": x.qfi,
            "mbr_ul": x.mbr_ul,
            "mbr_dl": x.mbr_dl,
            "gate_ul": if x.gate_ul { "open" } else { "closed" },
            "gate_dl": if x.gate_dl { "open" } else { "closed" },
            "instance": x.instance,
            "downlink": x.downlink.name(),
            "notify": x.notify,
            "downlink_data_reported": s.downlink_data,
            "error_indication": s.error_indication,
            "counters": {
                "ul_packets": c[UL_PKTS],
                "ul_bytes": c[UL_BYTES],
                "dl_packets": c[DL_PKTS],
                "dl_bytes": c[DL_BYTES],
                "drops": c[DROPS],
            },
        })
    }

    /// A session's per-flow rules with their counters (`[]`: none).
    pub(crate) fn flows_json(s: &Session, c: &[(u64, u64)]) -> Value {
        let net = |n: Option<(std::net::IpAddr, u8)>| n.map(|(a, l)| format!("{a}/{l}"));
        let ports = |p: Option<(u16, u16)>| {
            p.map(|(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
        };
        Value::Array(
            s.spec
                .flows
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let (p, b) = c.get(i).copied().unwrap_or_default();
                    json!({
                        "direction": if r.uplink { "uplink" } else { "downlink" },
                        "precedence": r.precedence,
                        "protocol": r.filter.proto,
                        "remote": net(r.filter.remote),
                        "remote_ports": ports(r.filter.remote_ports),
                        "ue": net(r.filter.ue),
                        "ue_ports": ports(r.filter.ue_ports),
                        "action": if r.pass { "forward" } else { "drop" },
                        "qfi": r.qfi,
                        "mbr": r.mbr,
                        "packets": p,
                        "bytes": b,
                    })
                })
                .collect(),
        )
    }

    /// Answers one of [`COMMANDS`]; `req` is the whole request object.
    pub fn answer(&mut self, cmd: &str, req: &Value) -> Value {
        match cmd {
            "gtp-session-add" | "gtp-session-mod" => self.put(cmd, req),
            "gtp-session-del" => {
                let Some(id) = req.get("id").and_then(Value::as_u64) else {
                    return err("gtp-session-del needs \"id\" (a number)");
                };
                if id >> 63 == 1 {
                    return err(PFCP_OWNED);
                }
                let end_marker = match end_marker_of(req) {
                    Ok(b) => b,
                    Err(e) => return e,
                };
                match self.sessions.delete(id, end_marker) {
                    Ok((s, c)) => json!({
                        "session": Self::session_json(&s, c),
                        "end_marker": end_marker,
                    }),
                    Err(e) => err(e),
                }
            }
            "gtp-session-show" => {
                let Some(id) = req.get("id").and_then(Value::as_u64) else {
                    return err("gtp-session-show needs \"id\" (a number)");
                };
                let Some(s) = self.sessions.get(id).cloned() else {
                    return err(format!("no session {id}"));
                };
                let c = self.sessions.counters(s.slot);
                let mut v = Self::session_json(&s, c);
                v["flows"] = Self::flows_json(&s, &self.sessions.flow_counters(s.slot));
                json!({ "session": v })
            }
            "gtp-session-list" => {
                let list: Vec<Session> = self.sessions.list().into_iter().cloned().collect();
                let v: Vec<Value> = list
                    .iter()
                    .map(|s| Self::session_json(s, self.sessions.counters(s.slot)))
                    .collect();
                json!({
                    "sessions": v,
                    "count": v.len(),
                    "max": self.sessions.max(),
                })
            }
            "gtp-stats" => {
                let st = self.sessions.bus().stats();
                let mut m = serde_json::Map::new();
                for (k, n) in stat::NAMES.iter().zip(st) {
                    m.insert((*k).to_string(), json!(n));
                }
                json!({
                    "endpoints": self.spec.endpoints.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                    "interface": self.spec.iface,
                    "sessions": self.sessions.len(),
                    "max_sessions": self.sessions.max(),
                    "bytes_per_session": bytes_per_session(self.sessions.max()),
                    "error_indications_lost": self.sessions.bus().events_lost(),
                    "counters": m,
                })
            }
            "gtp-peers" => {
                let now = crate::umem::now_ns();
                let v: Vec<Value> = self
                    .sessions
                    .bus()
                    .peers(now)
                    .into_iter()
                    .map(|p| {
                        json!({
                            "peer": p.addr.to_string(),
                            "local": p.local.to_string(),
                            "state": p.state,
                            "requests": p.requests,
                            "responses": p.responses,
                            "failures": p.failures,
                            "rtt_us": p.rtt_us,
                            "last_response_s": p.last_response_s,
                        })
                    })
                    .collect();
                let e = self.spec.echo;
                json!({
                    "peers": v,
                    "echo_interval": e.interval_s,
                    "echo_timeout_ms": e.t3_ms,
                    "echo_retries": e.n3,
                })
            }
            other => err(format!("unknown GTP-U command {other:?}")),
        }
    }

    fn put(&mut self, cmd: &str, req: &Value) -> Value {
        const KEYS: [&str; 15] = [
            "cmd",
            "id",
            "local",
            "teid",
            "ue4",
            "ue6",
            "peer",
            "peer_teid",
            "qfi",
            "mbr_ul",
            "mbr_dl",
            "gate_ul",
            "gate_dl",
            "instance",
            "end_marker",
        ];
        let Some(obj) = req.as_object() else {
            return err("a request is a JSON object");
        };
        if let Some(k) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return err(format!(
                "unknown field \"{k}\"; fields: {}",
                KEYS[1..].join(", ")
            ));
        }
        let num = |k: &str, max: u64| -> Result<Option<u64>, Value> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => match v.as_u64() {
                    Some(n) if n <= max => Ok(Some(n)),
                    _ => Err(err(format!("\"{k}\" must be a number from 0 to {max}"))),
                },
            }
        };
        let text = |k: &str| -> Result<Option<&str>, Value> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(err(format!("\"{k}\" must be a string"))),
            }
        };
        let gate = |k: &str| -> Result<Option<bool>, Value> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Bool(b)) => Ok(Some(*b)),
                Some(Value::String(s)) if s == "open" => Ok(Some(true)),
                Some(Value::String(s)) if s == "closed" => Ok(Some(false)),
                Some(_) => Err(err(format!("\"{k}\" must be \"open\" or \"closed\""))),
            }
        };
        let parsed = (|| -> Result<SessionInput<'_>, Value> {
            let need =
                |k: &str, v: Option<u64>| v.ok_or_else(|| err(format!("{cmd} needs \"{k}\"")));
            Ok(SessionInput {
                id: need("id", num("id", u64::MAX)?)?,
                local: text("local")?,
                teid: need("teid", num("teid", u32::MAX.into())?)? as u32,
                ue4: text("ue4")?,
                ue6: text("ue6")?,
                peer: text("peer")?.ok_or_else(|| err(format!("{cmd} needs \"peer\"")))?,
                peer_teid: need("peer_teid", num("peer_teid", u32::MAX.into())?)? as u32,
                qfi: num("qfi", 255)?.map(|q| q as u8),
                mbr_ul: num("mbr_ul", u64::MAX)?,
                mbr_dl: num("mbr_dl", u64::MAX)?,
                gate_ul: gate("gate_ul")?,
                gate_dl: gate("gate_dl")?,
                instance: text("instance")?,
            })
        })();
        let input = match parsed {
            Ok(i) => i,
            Err(e) => return e,
        };
        let spec = match parse_session(&input, &self.spec.endpoints) {
            Ok(s) => s,
            Err((field, msg)) => return err(format!("{field}: {msg}")),
        };
        if spec.id >> 63 == 1 {
            return err(PFCP_OWNED);
        }
        let id = spec.id;
        let end_marker = match end_marker_of(req) {
            Ok(b) => b,
            Err(e) => return e,
        };
        let r = if cmd == "gtp-session-add" {
            if end_marker {
                return err("\"end_marker\" is for gtp-session-mod and gtp-session-del");
            }
            self.sessions.add(spec).map(|()| false)
        } else {
            self.sessions.modify(spec, end_marker)
        };
        let sent = match r {
            Ok(b) => b,
            Err(e) => return err(e),
        };
        let s = self.sessions.get(id).cloned().expect("just stored");
        let c = self.sessions.counters(s.slot);
        json!({ "session": Self::session_json(&s, c), "end_marker": sent })
    }
}

/// The optional `"end_marker"` flag of a request.
fn end_marker_of(req: &Value) -> Result<bool, Value> {
    match req.get("end_marker") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(err("\"end_marker\" must be true or false")),
    }
}

/// `xgw gtp peers` as a table.
pub fn render_peers(v: &Value) -> String {
    let mut out = format!(
        "{:<40} {:<40} {:<8} {:>9} {:>9} {:>8} {:>10} {:>10}\n",
        "peer", "local", "state", "requests", "responses", "failures", "rtt_us", "last_s"
    );
    for p in v["peers"].as_array().into_iter().flatten() {
        let t = |k: &str| p[k].as_str().unwrap_or("-").to_string();
        let n = |k: &str| p[k].as_u64().map_or("-".into(), |x| x.to_string());
        out += &format!(
            "{:<40} {:<40} {:<8} {:>9} {:>9} {:>8} {:>10} {:>10}\n",
            t("peer"),
            t("local"),
            t("state"),
            n("requests"),
            n("responses"),
            n("failures"),
            n("rtt_us"),
            p["last_response_s"]
                .as_f64()
                .map_or("-".into(), |x| format!("{x:.1}")),
        );
    }
    out += &format!(
        "echo every {} s, answer within {} ms, {} tries\n",
        v["echo_interval"], v["echo_timeout_ms"], v["echo_retries"]
    );
    out
}

/// `xgw gtp session list` as a table.
pub fn render_sessions(v: &Value) -> String {
    let mut out = format!(
        "{:>8} {:<16} {:>10} {:<18} {:<24} {:<16} {:>10} {:>4} {:>12} {:>12}\n",
        "id", "local", "teid", "ue4", "ue6", "peer", "peer_teid", "qfi", "ul_pkts", "dl_pkts"
    );
    for s in v["sessions"].as_array().into_iter().flatten() {
        let t = |k: &str| s[k].as_str().unwrap_or("-").to_string();
        // (Numbers taken out of the JSON values: a Value's Display
        // ignores widths.)
        let n = |v: &Value| v.as_u64().unwrap_or(0);
        out += &format!(
            "{:>8} {:<16} {:>#10x} {:<18} {:<24} {:<16} {:>#10x} {:>4} {:>12} {:>12}{}\n",
            n(&s["id"]),
            t("local"),
            n(&s["teid"]),
            t("ue4"),
            t("ue6"),
            t("peer"),
            n(&s["peer_teid"]),
            s["qfi"].as_u64().map_or("-".into(), |q| q.to_string()),
            n(&s["counters"]["ul_packets"]),
            n(&s["counters"]["dl_packets"]),
            if s["error_indication"] == json!(true) {
                "  (error indication received)"
            } else {
                ""
            }
        );
    }
    if let (Some(n), Some(m)) = (v["count"].as_u64(), v["max"].as_u64()) {
        out += &format!("{n} sessions (at most {m})\n");
    }
    out
}

/// `xgw gtp session show` as `key: value` lines.
pub fn render_session(v: &Value) -> String {
    let s = &v["session"];
    let mut out = String::new();
    for k in [
        "id",
        "local",
        "teid",
        "ue4",
        "ue6",
        "peer",
        "peer_teid",
        "qfi",
        "mbr_ul",
        "mbr_dl",
        "gate_ul",
        "gate_dl",
        "instance",
        "error_indication",
    ] {
        let val = match &s[k] {
            Value::String(x) => x.clone(),
            Value::Null => "-".into(),
            x => x.to_string(),
        };
        out += &format!("{k}: {val}\n");
    }
    for (k, n) in s["counters"].as_object().into_iter().flatten() {
        out += &format!("{k}: {n}\n");
    }
    out
}

/// `xgw gtp stats` as `key: value` lines.
pub fn render_stats(v: &Value) -> String {
    let mut out = format!(
        "endpoints: {}\ninterface: {}\nsessions: {} (at most {}, {} bytes each per worker)\n",
        v["endpoints"]
            .as_array()
            .map(|a| a
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default(),
        v["interface"].as_str().unwrap_or("-"),
        v["sessions"],
        v["max_sessions"],
        v["bytes_per_session"],
    );
    for (k, n) in v["counters"].as_object().into_iter().flatten() {
        out += &format!("{k}: {n}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_table_lines_up() {
        let v = json!({"sessions": [{"id": 1, "local": "192.168.0.1", "teid": 256,
            "ue4": "10.1.5.10", "ue6": null, "peer": "192.168.0.2", "peer_teid": 512,
            "qfi": 9, "counters": {"ul_packets": 3, "dl_packets": 12345}}], "count": 1, "max": 7});
        let text = render_sessions(&v);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0].len(), lines[1].len(), "{text}");
        assert!(lines[1].starts_with("       1 192.168.0.1 "), "{text}");
        assert!(lines[1].ends_with("       12345"), "{text}");
    }
}
