//! The rules of a PFCP session (TS 29.244 §5.2, §7.5.2): PDRs, FARs,
//! QERs and URRs as decoded from their grouped IEs, and the IEs xgw
//! writes about them (Created PDR, Usage Report, Downlink Data Report).
//!
//! Decoding is strict about what it uses and tolerant of what it does
//! not: an unknown IE inside a grouped IE is skipped (§7.2.3: "comprehension
//! not required" is the rule for PFCP), a missing mandatory member is
//! [`Bad::Missing`] (cause 66 with its type as Offending IE), a member
//! whose value cannot be read is [`Bad::Incorrect`] (cause 69).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{ie, ies};

/// IE types of the session procedures (§8.1.2).
pub mod t {
    pub const CREATE_PDR: u16 = 1;
    pub const PDI: u16 = 2;
    pub const CREATE_FAR: u16 = 3;
    pub const FORWARDING_PARAMETERS: u16 = 4;
    pub const CREATE_URR: u16 = 6;
    pub const CREATE_QER: u16 = 7;
    pub const CREATED_PDR: u16 = 8;
    pub const UPDATE_PDR: u16 = 9;
    pub const UPDATE_FAR: u16 = 10;
    pub const UPDATE_FORWARDING_PARAMETERS: u16 = 11;
    pub const UPDATE_URR: u16 = 13;
    pub const UPDATE_QER: u16 = 14;
    pub const REMOVE_PDR: u16 = 15;
    pub const REMOVE_FAR: u16 = 16;
    pub const REMOVE_URR: u16 = 17;
    pub const REMOVE_QER: u16 = 18;
    pub const SOURCE_INTERFACE: u16 = 20;
    pub const F_TEID: u16 = 21;
    pub const NETWORK_INSTANCE: u16 = 22;
    pub const SDF_FILTER: u16 = 23;
    pub const GATE_STATUS: u16 = 25;
    pub const MBR: u16 = 26;
    pub const PRECEDENCE: u16 = 29;
    pub const VOLUME_THRESHOLD: u16 = 31;
    pub const TIME_THRESHOLD: u16 = 32;
    pub const REPORTING_TRIGGERS: u16 = 37;
    pub const REPORT_TYPE: u16 = 39;
    pub const DESTINATION_INTERFACE: u16 = 42;
    pub const UP_FUNCTION_FEATURES: u16 = 43;
    pub const APPLY_ACTION: u16 = 44;
    pub const PFCPSMREQ_FLAGS: u16 = 49;
    pub const PDR_ID: u16 = 56;
    pub const MEASUREMENT_METHOD: u16 = 62;
    pub const USAGE_REPORT_TRIGGER: u16 = 63;
    pub const MEASUREMENT_PERIOD: u16 = 64;
    pub const VOLUME_MEASUREMENT: u16 = 66;
    pub const DURATION_MEASUREMENT: u16 = 67;
    pub const VOLUME_QUOTA: u16 = 73;
    pub const TIME_QUOTA: u16 = 74;
    pub const START_TIME: u16 = 75;
    pub const END_TIME: u16 = 76;
    pub const QUERY_URR: u16 = 77;
    pub const USAGE_REPORT_MOD: u16 = 78;
    pub const USAGE_REPORT_DEL: u16 = 79;
    pub const USAGE_REPORT_REPORT: u16 = 80;
    pub const URR_ID: u16 = 81;
    pub const DOWNLINK_DATA_REPORT: u16 = 83;
    pub const OUTER_HEADER_CREATION: u16 = 84;
    pub const UE_IP_ADDRESS: u16 = 93;
    pub const OUTER_HEADER_REMOVAL: u16 = 95;
    pub const UR_SEQN: u16 = 104;
    pub const FAR_ID: u16 = 108;
    pub const QER_ID: u16 = 109;
    pub const FAILED_RULE_ID: u16 = 114;
    pub const QFI: u16 = 124;
}

/// Apply Action flags (§8.2.26, first octet).
pub mod action {
    pub const DROP: u8 = 0x01;
    pub const FORW: u8 = 0x02;
    pub const BUFF: u8 = 0x04;
    pub const NOCP: u8 = 0x08;
    pub const DUPL: u8 = 0x10;
    pub const NAMES: [(u8, &str); 5] = [
        (DROP, "DROP"),
        (FORW, "FORW"),
        (BUFF, "BUFF"),
        (NOCP, "NOCP"),
        (DUPL, "DUPL"),
    ];
}

/// Reporting Triggers (§8.2.19) as a 24-bit number: octet 5 in the low
/// byte, then octets 6 and 7. Usage Report Trigger bits (§8.2.41) are
/// laid out the same way but differ: see [`report`].
pub mod trigger {
    pub const PERIO: u32 = 1 << 0;
    pub const VOLTH: u32 = 1 << 1;
    pub const TIMTH: u32 = 1 << 2;
    pub const VOLQU: u32 = 1 << 8;
    pub const TIMQU: u32 = 1 << 9;
    pub const NAMES: [(u32, &str); 5] = [
        (PERIO, "PERIO"),
        (VOLTH, "VOLTH"),
        (TIMTH, "TIMTH"),
        (VOLQU, "VOLQU"),
        (TIMQU, "TIMQU"),
    ];
}

/// Usage Report Trigger bits (§8.2.41), as [`trigger`].
pub mod report {
    pub const PERIO: u32 = 1 << 0;
    pub const VOLTH: u32 = 1 << 1;
    pub const TIMTH: u32 = 1 << 2;
    pub const IMMER: u32 = 1 << 7;
    pub const VOLQU: u32 = 1 << 8;
    pub const TIMQU: u32 = 1 << 9;
    pub const TERMR: u32 = 1 << 11;
}

/// Measurement Method bits (§8.2.40).
pub mod method {
    pub const DURAT: u8 = 0x01;
    pub const VOLUM: u8 = 0x02;
    pub const EVENT: u8 = 0x04;
}

/// Interface values (§8.2.2, §8.2.24).
pub fn interface_name(v: u8) -> &'static str {
    match v {
        0 => "access",
        1 => "core",
        2 => "sgi-lan",
        3 => "cp-function",
        4 => "5g-vn-internal",
        _ => "unknown",
    }
}

/// Why a rule could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bad {
    /// A mandatory IE is missing (cause 66, Offending IE = its type).
    Missing(u16),
    /// An IE's value is wrong (cause 69, Offending IE = its type).
    Incorrect(u16),
}

type R<T> = Result<T, Bad>;

/// A grouped IE's members.
fn group(parent: u16, v: &[u8]) -> R<Vec<(u16, &[u8])>> {
    ies(v).map_err(|_| Bad::Incorrect(parent))
}

fn find<'a>(l: &[(u16, &'a [u8])], t: u16) -> Option<&'a [u8]> {
    l.iter().find(|(x, _)| *x == t).map(|(_, v)| *v)
}

fn all<'a>(l: &'a [(u16, &'a [u8])], t: u16) -> impl Iterator<Item = &'a [u8]> + 'a {
    l.iter().filter(move |(x, _)| *x == t).map(|(_, v)| *v)
}

fn need<'a>(l: &[(u16, &'a [u8])], t: u16) -> R<&'a [u8]> {
    find(l, t).ok_or(Bad::Missing(t))
}

fn be(v: &[u8], n: usize, t: u16) -> R<u64> {
    let b = v.get(..n).ok_or(Bad::Incorrect(t))?;
    Ok(b.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
}

fn u8_of(v: &[u8], t: u16) -> R<u8> {
    v.first().copied().ok_or(Bad::Incorrect(t))
}

fn u16_of(v: &[u8], t: u16) -> R<u16> {
    Ok(be(v, 2, t)? as u16)
}

fn u32_of(v: &[u8], t: u16) -> R<u32> {
    Ok(be(v, 4, t)? as u32)
}

fn v4(v: &[u8], at: usize, t: u16) -> R<Ipv4Addr> {
    let b: [u8; 4] = v
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .ok_or(Bad::Incorrect(t))?;
    Ok(Ipv4Addr::from(b))
}

fn v6(v: &[u8], at: usize, t: u16) -> R<Ipv6Addr> {
    let b: [u8; 16] = v
        .get(at..at + 16)
        .and_then(|b| b.try_into().ok())
        .ok_or(Bad::Incorrect(t))?;
    Ok(Ipv6Addr::from(b))
}

/// A Network Instance (§8.2.4): a DNN in label form or plain text.
fn instance(v: &[u8]) -> R<String> {
    // Label-encoded ("\x08internet") or a plain name: either way printable.
    let mut out = String::new();
    let mut r = v;
    let labels = {
        let mut ok = !v.is_empty();
        let mut x = v;
        while let Some((&n, rest)) = x.split_first() {
            let n = usize::from(n);
            if n == 0 || n > rest.len() {
                ok = false;
                break;
            }
            x = &rest[n..];
        }
        ok
    };
    if labels {
        while let Some((&n, rest)) = r.split_first() {
            let n = usize::from(n);
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&String::from_utf8_lossy(&rest[..n]));
            r = &rest[n..];
        }
    } else {
        out = String::from_utf8_lossy(v).into_owned();
    }
    if out.len() > 63 || out.chars().any(|c| c.is_control()) {
        return Err(Bad::Incorrect(t::NETWORK_INSTANCE));
    }
    Ok(out)
}

/// An F-TEID (§8.2.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fteid {
    /// CH: the UP function chooses (TEID and address absent).
    pub choose: bool,
    pub choose_id: Option<u8>,
    pub v4: Option<Ipv4Addr>,
    pub v6: Option<Ipv6Addr>,
    /// Wanted families when `choose`.
    pub want_v4: bool,
    pub want_v6: bool,
    pub teid: u32,
}

impl Fteid {
    fn parse(v: &[u8]) -> R<Fteid> {
        const T: u16 = t::F_TEID;
        let f = u8_of(v, T)?;
        let (want_v4, want_v6, choose, chid) = (f & 1 != 0, f & 2 != 0, f & 4 != 0, f & 8 != 0);
        if choose {
            let choose_id = if chid { Some(u8_of(&v[1..], T)?) } else { None };
            if !want_v4 && !want_v6 {
                return Err(Bad::Incorrect(T));
            }
            return Ok(Fteid {
                choose,
                choose_id,
                v4: None,
                v6: None,
                want_v4,
                want_v6,
                teid: 0,
            });
        }
        let teid = u32_of(&v[1..], T)?;
        let mut at = 5;
        let a4 = if want_v4 {
            at += 4;
            Some(v4(v, at - 4, T)?)
        } else {
            None
        };
        let a6 = if want_v6 { Some(v6(v, at, T)?) } else { None };
        if teid == 0 || (a4.is_none() && a6.is_none()) {
            return Err(Bad::Incorrect(T));
        }
        Ok(Fteid {
            choose: false,
            choose_id: None,
            v4: a4,
            v6: a6,
            want_v4,
            want_v6,
            teid,
        })
    }

    /// The IE value for a chosen F-TEID.
    pub fn encode(teid: u32, addr: IpAddr) -> Vec<u8> {
        let mut v = Vec::with_capacity(21);
        match addr {
            IpAddr::V4(a) => {
                v.push(0x01);
                v.extend_from_slice(&teid.to_be_bytes());
                v.extend_from_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                v.push(0x02);
                v.extend_from_slice(&teid.to_be_bytes());
                v.extend_from_slice(&a.octets());
            }
        }
        v
    }
}

/// A UE IP Address (§8.2.62).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UeIp {
    pub v4: Option<Ipv4Addr>,
    /// An address (/128) or prefix (/64).
    pub v6: Option<(Ipv6Addr, u8)>,
    /// S/D: it is the destination address (a downlink PDR's).
    pub dst: bool,
}

impl UeIp {
    fn parse(v: &[u8]) -> R<UeIp> {
        const T: u16 = t::UE_IP_ADDRESS;
        let f = u8_of(v, T)?;
        let (has6, has4, dst, v6d, ch4, ch6, pl) = (
            f & 0x01 != 0,
            f & 0x02 != 0,
            f & 0x04 != 0,
            f & 0x08 != 0,
            f & 0x10 != 0,
            f & 0x20 != 0,
            f & 0x40 != 0,
        );
        if ch4 || ch6 {
            // UE address allocation by the UP function: not offered (the
            // UP Function Features do not say UEIP).
            return Err(Bad::Incorrect(T));
        }
        let mut at = 1;
        let a4 = if has4 {
            at += 4;
            Some(v4(v, at - 4, T)?)
        } else {
            None
        };
        let a6 = if has6 {
            let a = v6(v, at, T)?;
            at += 16;
            let mut len = if u128::from(a) & u128::from(u64::MAX) == 0 {
                64
            } else {
                128
            };
            if v6d {
                // IPv6 Prefix Delegation Bits: a prefix of 128 - n bits.
                len = 128u8.saturating_sub(u8_of(&v[at..], T)?);
                at += 1;
            }
            if pl {
                len = u8_of(v.get(at..).unwrap_or(&[]), T)?;
            }
            if len != 64 && len != 128 {
                return Err(Bad::Incorrect(T));
            }
            Some((a, len))
        } else {
            None
        };
        if a4.is_none() && a6.is_none() {
            return Err(Bad::Incorrect(T));
        }
        Ok(UeIp {
            v4: a4,
            v6: a6,
            dst,
        })
    }

    pub fn show(&self) -> String {
        let mut v = Vec::new();
        if let Some(a) = self.v4 {
            v.push(a.to_string());
        }
        if let Some((a, l)) = self.v6 {
            v.push(format!("{a}/{l}"));
        }
        v.join(" ")
    }
}

/// A Packet Detection Rule (§7.5.2.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pdr {
    pub id: u16,
    pub precedence: u32,
    pub source: u8,
    pub fteid: Option<Fteid>,
    pub ue: Option<UeIp>,
    pub instance: Option<String>,
    pub qfi: Option<u8>,
    /// Flow descriptions (the SDF filters' FD fields), as sent.
    pub sdf: Vec<String>,
    pub ohr: Option<u8>,
    pub far: Option<u32>,
    pub qers: Vec<u32>,
    pub urrs: Vec<u32>,
}

fn pdi(p: &mut Pdr, v: &[u8]) -> R<()> {
    let l = group(t::PDI, v)?;
    p.source = u8_of(need(&l, t::SOURCE_INTERFACE)?, t::SOURCE_INTERFACE)? & 0x0f;
    p.fteid = find(&l, t::F_TEID).map(Fteid::parse).transpose()?;
    p.ue = find(&l, t::UE_IP_ADDRESS).map(UeIp::parse).transpose()?;
    p.instance = find(&l, t::NETWORK_INSTANCE).map(instance).transpose()?;
    p.qfi = find(&l, t::QFI)
        .map(|v| u8_of(v, t::QFI).map(|q| q & 0x3f))
        .transpose()?;
    p.sdf = all(&l, t::SDF_FILTER)
        .map(sdf)
        .collect::<R<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    Ok(())
}

/// An SDF Filter's flow description (§8.2.5), if it has one.
fn sdf(v: &[u8]) -> R<Option<String>> {
    const T: u16 = t::SDF_FILTER;
    let f = u8_of(v, T)?;
    if f & 0x01 == 0 {
        return Ok(None);
    }
    let n = usize::from(u16_of(v.get(2..).unwrap_or(&[]), T)?);
    let d = v.get(4..4 + n).ok_or(Bad::Incorrect(T))?;
    let s = std::str::from_utf8(d).map_err(|_| Bad::Incorrect(T))?;
    if s.len() > 255 || s.chars().any(|c| c.is_control()) {
        return Err(Bad::Incorrect(T));
    }
    Ok(Some(s.to_string()))
}

impl Pdr {
    /// A Create PDR's value.
    pub fn create(v: &[u8]) -> R<Pdr> {
        let l = group(t::CREATE_PDR, v)?;
        let mut p = Pdr {
            id: u16_of(need(&l, t::PDR_ID)?, t::PDR_ID)?,
            precedence: u32_of(need(&l, t::PRECEDENCE)?, t::PRECEDENCE)?,
            source: 0,
            fteid: None,
            ue: None,
            instance: None,
            qfi: None,
            sdf: Vec::new(),
            ohr: None,
            far: None,
            qers: Vec::new(),
            urrs: Vec::new(),
        };
        pdi(&mut p, need(&l, t::PDI)?)?;
        p.rest(&l)?;
        Ok(p)
    }

    fn rest(&mut self, l: &[(u16, &[u8])]) -> R<()> {
        if let Some(v) = find(l, t::OUTER_HEADER_REMOVAL) {
            self.ohr = Some(u8_of(v, t::OUTER_HEADER_REMOVAL)?);
        }
        if let Some(v) = find(l, t::FAR_ID) {
            self.far = Some(u32_of(v, t::FAR_ID)?);
        }
        let q = all(l, t::QER_ID)
            .map(|v| u32_of(v, t::QER_ID))
            .collect::<R<Vec<_>>>()?;
        if !q.is_empty() {
            self.qers = q;
        }
        let u = all(l, t::URR_ID)
            .map(|v| u32_of(v, t::URR_ID))
            .collect::<R<Vec<_>>>()?;
        if !u.is_empty() {
            self.urrs = u;
        }
        Ok(())
    }

    /// Applies an Update PDR's value (its PDR ID already matched).
    pub fn update(&mut self, v: &[u8]) -> R<()> {
        let l = group(t::UPDATE_PDR, v)?;
        if let Some(p) = find(&l, t::PRECEDENCE) {
            self.precedence = u32_of(p, t::PRECEDENCE)?;
        }
        if let Some(p) = find(&l, t::PDI) {
            pdi(self, p)?;
        }
        self.rest(&l)
    }
}

/// Outer Header Creation (§8.2.56): GTP-U over IPv4 or IPv6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ohc {
    pub desc: u16,
    pub teid: u32,
    pub addr: IpAddr,
}

impl Ohc {
    pub const GTPU_V4: u16 = 0x0100;
    pub const GTPU_V6: u16 = 0x0200;

    fn parse(v: &[u8]) -> R<Ohc> {
        const T: u16 = t::OUTER_HEADER_CREATION;
        let desc = u16_of(v, T)?;
        let teid = u32_of(v.get(2..).unwrap_or(&[]), T)?;
        let addr = if desc & Ohc::GTPU_V4 != 0 {
            IpAddr::V4(v4(v, 6, T)?)
        } else if desc & Ohc::GTPU_V6 != 0 {
            IpAddr::V6(v6(v, 6, T)?)
        } else {
            // UDP/IP, IP, VLAN tags: not what a GTP-U endpoint creates.
            return Err(Bad::Incorrect(T));
        };
        if teid == 0 {
            return Err(Bad::Incorrect(T));
        }
        Ok(Ohc { desc, teid, addr })
    }
}

/// A Forwarding Action Rule (§7.5.2.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Far {
    pub id: u32,
    pub action: u8,
    pub dest: Option<u8>,
    pub ohc: Option<Ohc>,
    pub instance: Option<String>,
}

impl Far {
    pub fn create(v: &[u8]) -> R<Far> {
        let l = group(t::CREATE_FAR, v)?;
        let mut f = Far {
            id: u32_of(need(&l, t::FAR_ID)?, t::FAR_ID)?,
            action: u8_of(need(&l, t::APPLY_ACTION)?, t::APPLY_ACTION)?,
            dest: None,
            ohc: None,
            instance: None,
        };
        if let Some(p) = find(&l, t::FORWARDING_PARAMETERS) {
            f.params(t::FORWARDING_PARAMETERS, p)?;
        }
        Ok(f)
    }

    fn params(&mut self, parent: u16, v: &[u8]) -> R<()> {
        let l = group(parent, v)?;
        match find(&l, t::DESTINATION_INTERFACE) {
            Some(d) => self.dest = Some(u8_of(d, t::DESTINATION_INTERFACE)? & 0x0f),
            None if parent == t::FORWARDING_PARAMETERS => {
                return Err(Bad::Missing(t::DESTINATION_INTERFACE))
            }
            None => {}
        }
        if let Some(o) = find(&l, t::OUTER_HEADER_CREATION) {
            self.ohc = Some(Ohc::parse(o)?);
        } else if parent == t::FORWARDING_PARAMETERS {
            self.ohc = None;
        }
        if let Some(n) = find(&l, t::NETWORK_INSTANCE) {
            self.instance = Some(instance(n)?);
        }
        Ok(())
    }

    /// Applies an Update FAR's value.
    pub fn update(&mut self, v: &[u8]) -> R<()> {
        let l = group(t::UPDATE_FAR, v)?;
        if let Some(a) = find(&l, t::APPLY_ACTION) {
            self.action = u8_of(a, t::APPLY_ACTION)?;
        }
        if let Some(p) = find(&l, t::UPDATE_FORWARDING_PARAMETERS) {
            self.params(t::UPDATE_FORWARDING_PARAMETERS, p)?;
        }
        Ok(())
    }

    pub fn actions(&self) -> Vec<&'static str> {
        action::NAMES
            .iter()
            .filter(|(b, _)| self.action & b != 0)
            .map(|(_, n)| *n)
            .collect()
    }
}

/// A QoS Enforcement Rule (§7.5.2.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Qer {
    pub id: u32,
    pub gate_ul: bool,
    pub gate_dl: bool,
    /// Bits per second (the IE carries kbit/s).
    pub mbr_ul: u64,
    pub mbr_dl: u64,
    pub qfi: Option<u8>,
}

impl Qer {
    pub fn create(v: &[u8]) -> R<Qer> {
        let l = group(t::CREATE_QER, v)?;
        let mut q = Qer {
            id: u32_of(need(&l, t::QER_ID)?, t::QER_ID)?,
            gate_ul: true,
            gate_dl: true,
            mbr_ul: 0,
            mbr_dl: 0,
            qfi: None,
        };
        // (Gate Status is mandatory in Create QER, §7.5.2.5.)
        q.fields(&l, true)?;
        Ok(q)
    }

    fn fields(&mut self, l: &[(u16, &[u8])], gate_needed: bool) -> R<()> {
        match find(l, t::GATE_STATUS) {
            Some(g) => {
                let g = u8_of(g, t::GATE_STATUS)?;
                self.gate_ul = (g >> 2) & 3 == 0;
                self.gate_dl = g & 3 == 0;
            }
            None if gate_needed => return Err(Bad::Missing(t::GATE_STATUS)),
            None => {}
        }
        if let Some(m) = find(l, t::MBR) {
            if m.len() < 10 {
                return Err(Bad::Incorrect(t::MBR));
            }
            self.mbr_ul = be(m, 5, t::MBR)?.saturating_mul(1000);
            self.mbr_dl = be(&m[5..], 5, t::MBR)?.saturating_mul(1000);
        }
        if let Some(q) = find(l, t::QFI) {
            self.qfi = Some(u8_of(q, t::QFI)? & 0x3f);
        }
        Ok(())
    }

    pub fn update(&mut self, v: &[u8]) -> R<()> {
        let l = group(t::UPDATE_QER, v)?;
        self.fields(&l, false)
    }
}

/// A Usage Reporting Rule (§7.5.2.4): what xgw measures (volume and
/// duration) and when it reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Urr {
    pub id: u32,
    pub method: u8,
    pub triggers: u32,
    pub period_s: Option<u32>,
    /// Total, uplink, downlink (bytes).
    pub vol_threshold: [Option<u64>; 3],
    pub vol_quota: [Option<u64>; 3],
    pub time_threshold_s: Option<u32>,
    pub time_quota_s: Option<u32>,
}

fn volume(v: &[u8], ty: u16) -> R<[Option<u64>; 3]> {
    let f = u8_of(v, ty)?;
    let mut out = [None; 3];
    let mut at = 1;
    for (i, o) in out.iter_mut().enumerate() {
        if f & (1 << i) != 0 {
            *o = Some(be(v.get(at..).unwrap_or(&[]), 8, ty)?);
            at += 8;
        }
    }
    Ok(out)
}

impl Urr {
    pub fn create(v: &[u8]) -> R<Urr> {
        let l = group(t::CREATE_URR, v)?;
        let mut u = Urr {
            id: u32_of(need(&l, t::URR_ID)?, t::URR_ID)?,
            method: u8_of(need(&l, t::MEASUREMENT_METHOD)?, t::MEASUREMENT_METHOD)?,
            triggers: 0,
            period_s: None,
            vol_threshold: [None; 3],
            vol_quota: [None; 3],
            time_threshold_s: None,
            time_quota_s: None,
        };
        need(&l, t::REPORTING_TRIGGERS)?;
        u.fields(&l)?;
        Ok(u)
    }

    fn fields(&mut self, l: &[(u16, &[u8])]) -> R<()> {
        if let Some(m) = find(l, t::MEASUREMENT_METHOD) {
            self.method = u8_of(m, t::MEASUREMENT_METHOD)?;
        }
        if let Some(r) = find(l, t::REPORTING_TRIGGERS) {
            if r.len() < 2 {
                return Err(Bad::Incorrect(t::REPORTING_TRIGGERS));
            }
            self.triggers = u32::from(r[0])
                | u32::from(r[1]) << 8
                | u32::from(r.get(2).copied().unwrap_or(0)) << 16;
        }
        if let Some(p) = find(l, t::MEASUREMENT_PERIOD) {
            let p = u32_of(p, t::MEASUREMENT_PERIOD)?;
            if p == 0 {
                return Err(Bad::Incorrect(t::MEASUREMENT_PERIOD));
            }
            self.period_s = Some(p);
        }
        if let Some(v) = find(l, t::VOLUME_THRESHOLD) {
            self.vol_threshold = volume(v, t::VOLUME_THRESHOLD)?;
        }
        if let Some(v) = find(l, t::VOLUME_QUOTA) {
            self.vol_quota = volume(v, t::VOLUME_QUOTA)?;
        }
        if let Some(v) = find(l, t::TIME_THRESHOLD) {
            self.time_threshold_s = Some(u32_of(v, t::TIME_THRESHOLD)?);
        }
        if let Some(v) = find(l, t::TIME_QUOTA) {
            self.time_quota_s = Some(u32_of(v, t::TIME_QUOTA)?);
        }
        if self.triggers & trigger::PERIO != 0 && self.period_s.is_none() {
            // §7.5.2.4: Measurement Period is there if PERIO is set.
            return Err(Bad::Missing(t::MEASUREMENT_PERIOD));
        }
        Ok(())
    }

    pub fn update(&mut self, v: &[u8]) -> R<()> {
        let l = group(t::UPDATE_URR, v)?;
        self.fields(&l)
    }

    pub fn trigger_names(&self) -> Vec<&'static str> {
        trigger::NAMES
            .iter()
            .filter(|(b, _)| self.triggers & b != 0)
            .map(|(_, n)| *n)
            .collect()
    }
}

/// The ID inside a Remove/Update/Query grouped IE (`id_type` its type,
/// `width` 2 or 4 octets).
pub fn id_in(parent: u16, v: &[u8], id_type: u16, width: usize) -> R<u32> {
    let l = group(parent, v)?;
    Ok(be(need(&l, id_type)?, width, id_type)? as u32)
}

/// A Failed Rule ID (§8.2.80): rule type (0 PDR, 1 FAR, 2 QER, 3 URR)
/// and its ID.
pub fn failed_rule(kind: u8, id: u32) -> Vec<u8> {
    let mut v = vec![kind];
    if kind == 0 {
        v.extend_from_slice(&(id as u16).to_be_bytes());
    } else {
        v.extend_from_slice(&id.to_be_bytes());
    }
    v
}

/// An IE (type, value) written into `out`.
pub fn put(out: &mut Vec<u8>, ty: u16, v: &[u8]) {
    out.extend_from_slice(&ty.to_be_bytes());
    out.extend_from_slice(&(v.len() as u16).to_be_bytes());
    out.extend_from_slice(v);
}

/// What one usage report says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    pub urr: u32,
    pub seqn: u32,
    pub trigger: u32,
    /// NTP seconds.
    pub start: u32,
    pub end: u32,
    /// Uplink and downlink packets and bytes (`None`: not measured).
    pub volume: Option<[u64; 4]>,
    pub duration_s: Option<u32>,
}

impl Usage {
    /// The value of a Usage Report IE (of any of the three types).
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(96);
        put(&mut v, t::URR_ID, &self.urr.to_be_bytes());
        put(&mut v, t::UR_SEQN, &self.seqn.to_be_bytes());
        let tr = self.trigger.to_le_bytes();
        put(&mut v, t::USAGE_REPORT_TRIGGER, &tr[..3]);
        put(&mut v, t::START_TIME, &self.start.to_be_bytes());
        put(&mut v, t::END_TIME, &self.end.to_be_bytes());
        if let Some([ulp, ulb, dlp, dlb]) = self.volume {
            let mut m = vec![0x3f];
            for x in [ulb + dlb, ulb, dlb, ulp + dlp, ulp, dlp] {
                m.extend_from_slice(&x.to_be_bytes());
            }
            put(&mut v, t::VOLUME_MEASUREMENT, &m);
        }
        if let Some(d) = self.duration_s {
            put(&mut v, t::DURATION_MEASUREMENT, &d.to_be_bytes());
        }
        v
    }
}

/// The IE value of a Created PDR (PDR ID and the chosen F-TEID).
pub fn created_pdr(id: u16, teid: u32, addr: IpAddr) -> Vec<u8> {
    let mut v = Vec::with_capacity(32);
    put(&mut v, t::PDR_ID, &id.to_be_bytes());
    put(&mut v, t::F_TEID, &Fteid::encode(teid, addr));
    v
}

/// An F-SEID IE value (§8.2.37).
pub fn fseid(seid: u64, addr: IpAddr) -> Vec<u8> {
    let mut v = Vec::with_capacity(25);
    match addr {
        IpAddr::V4(a) => {
            v.push(0x02);
            v.extend_from_slice(&seid.to_be_bytes());
            v.extend_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            v.push(0x01);
            v.extend_from_slice(&seid.to_be_bytes());
            v.extend_from_slice(&a.octets());
        }
    }
    v
}

/// An F-SEID's SEID and address.
pub fn parse_fseid(v: &[u8]) -> R<(u64, IpAddr)> {
    const T: u16 = ie::F_SEID;
    let f = u8_of(v, T)?;
    let seid = be(v.get(1..).unwrap_or(&[]), 8, T)?;
    let addr = if f & 0x02 != 0 {
        IpAddr::V4(v4(v, 9, T)?)
    } else if f & 0x01 != 0 {
        IpAddr::V6(v6(v, 9, T)?)
    } else {
        return Err(Bad::Incorrect(T));
    };
    Ok((seid, addr))
}

/// A flow description (TS 29.244 §8.2.5, the IPFilterRule of RFC 6733
/// §4.3 that SMFs send: `permit out PROTO from SRC [PORTS] to DST
/// [PORTS]`) as SDF filters for the dataplane: one per combination of the
/// port lists. The description is written from the network's side: `from`
/// is the data network's end and `to` the UE's (`assigned`), for uplink
/// and downlink PDRs alike; a `from assigned` description is read the
/// other way round. `None` in a filter: any.
pub fn parse_flow(s: &str) -> Result<Vec<xgw_pipelines::gtpu::SdfFilter>, String> {
    use xgw_pipelines::gtpu::SdfFilter;
    let bad = |why: &str| Err(format!("flow description {s:?}: {why}"));
    let mut w = s.split_whitespace().peekable();
    if w.next() != Some("permit") {
        return bad("only `permit` rules are supported");
    }
    match w.next() {
        Some("out" | "in") => {}
        _ => return bad("expected `out` after `permit`"),
    }
    let proto = match w.next() {
        Some("ip") => None,
        Some("tcp") => Some(6),
        Some("udp") => Some(17),
        Some("icmp") => Some(1),
        Some("sctp") => Some(132),
        Some(n) => match n.parse::<u8>() {
            Ok(p) => Some(p),
            Err(_) => return bad("the protocol is `ip`, a name or a number 0-255"),
        },
        None => return bad("no protocol"),
    };
    if w.next() != Some("from") {
        return bad("expected `from`");
    }
    type Side = (Option<(IpAddr, u8)>, bool, Vec<(u16, u16)>);
    let side =
        |w: &mut std::iter::Peekable<std::str::SplitWhitespace<'_>>| -> Result<Side, String> {
            let a = w
                .next()
                .ok_or_else(|| format!("flow description {s:?}: an address is missing"))?;
            let (net, assigned) = match a {
                "any" => (None, false),
                "assigned" => (None, true),
                a => {
                    let (ip, len) = match a.split_once('/') {
                        Some((ip, l)) => (ip, Some(l)),
                        None => (a, None),
                    };
                    let ip: IpAddr = ip
                        .parse()
                        .map_err(|_| format!("flow description {s:?}: {a:?} is not an address"))?;
                    let max = if ip.is_ipv4() { 32 } else { 128 };
                    let len = match len {
                        None => max,
                        Some(l) => l.parse::<u8>().ok().filter(|&l| l <= max).ok_or_else(|| {
                            format!("flow description {s:?}: bad prefix length in {a:?}")
                        })?,
                    };
                    (Some((ip, len)), false)
                }
            };
            let mut ports = Vec::new();
            if let Some(p) = w.peek().copied() {
                if p.starts_with(|c: char| c.is_ascii_digit()) {
                    w.next();
                    for r in p.split(',') {
                        let num = |x: &str| {
                            x.parse::<u16>()
                                .map_err(|_| format!("flow description {s:?}: bad port {x:?}"))
                        };
                        let (lo, hi) = match r.split_once('-') {
                            Some((a, b)) => (num(a)?, num(b)?),
                            None => (num(r)?, num(r)?),
                        };
                        if lo > hi {
                            return Err(format!("flow description {s:?}: empty port range {r:?}"));
                        }
                        ports.push((lo, hi));
                    }
                }
            }
            Ok((net, assigned, ports))
        };
    let from = side(&mut w)?;
    if w.next() != Some("to") {
        return bad("expected `to`");
    }
    let to = side(&mut w)?;
    if let Some(x) = w.next() {
        return bad(&format!("{x:?}: options are not supported"));
    }
    // `from` is the network's end unless it is the UE's.
    let (remote, ue) = if from.1 && !to.1 {
        (to, from)
    } else {
        (from, to)
    };
    if (!remote.2.is_empty() || !ue.2.is_empty()) && !matches!(proto, Some(6 | 17 | 132)) {
        return bad("ports need tcp (6), udp (17) or sctp (132)");
    }
    let ranges = |v: &Vec<(u16, u16)>| -> Vec<Option<(u16, u16)>> {
        if v.is_empty() {
            vec![None]
        } else {
            v.iter().copied().map(Some).collect()
        }
    };
    let mut out = Vec::new();
    for rp in ranges(&remote.2) {
        for up in ranges(&ue.2) {
            out.push(SdfFilter {
                proto,
                remote: remote.0,
                ue: ue.0,
                remote_ports: rp,
                ue_ports: up,
            });
        }
    }
    if out.len() > 8 {
        return bad("more than 8 port combinations");
    }
    Ok(out)
}

#[cfg(test)]
mod flow_tests {
    use super::parse_flow;
    use xgw_pipelines::gtpu::SdfFilter;

    #[test]
    fn flow_descriptions_smfs_send() {
        let any = SdfFilter::default();
        assert_eq!(
            parse_flow("permit out ip from any to assigned").unwrap(),
            vec![any.clone()]
        );
        let f =
            parse_flow("permit out 17 from 198.51.100.0/24 5060 to assigned 1000-2000").unwrap();
        assert_eq!(
            f,
            vec![SdfFilter {
                proto: Some(17),
                remote: Some(("198.51.100.0".parse().unwrap(), 24)),
                ue: None,
                remote_ports: Some((5060, 5060)),
                ue_ports: Some((1000, 2000)),
            }]
        );
        // Read the other way round when `from` is the UE.
        let f = parse_flow("permit out tcp from assigned to 2001:db8::/32 80,443").unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[1].remote_ports, Some((443, 443)));
        assert_eq!(f[1].remote, Some(("2001:db8::".parse().unwrap(), 32)));
        for bad in [
            "deny out ip from any to assigned",
            "permit out ip from any",
            "permit out ip from any to assigned frag",
            "permit out ip from any 80 to assigned",
            "permit out 17 from 10.0.0.0/33 to assigned",
            "permit out 17 from any 9-1 to assigned",
            "permit out 300 from any to assigned",
        ] {
            assert!(parse_flow(bad).is_err(), "{bad}");
        }
    }
}
