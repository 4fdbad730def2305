//! `[interfaces.ra]`: Router Advertisements (RFC 4861 § 6.2, RFC 8106
//! RDNSS, RFC 8781 PREF64).

use std::net::{IpAddr, Ipv6Addr};

use serde::Deserialize;
use xgw_pipelines::router::spec::{network, Pref64Spec, RaSpec, RdnssSpec};
use xgw_pipelines::wire::ndp::PrefixInfo;

use super::value::{
    is_link_local, HopLimit, Nat64Prefix, Pref64Lifetime, RaInterval, RaPrefix, ReachableTime,
    UnicastV6,
};
use super::{ConfigError, V};

/// `[interfaces.ra]`: Router Advertisements (RFC 4861 § 6.2, RFC 8106,
/// RFC 8781). Times in seconds unless named otherwise.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRa {
    pub(super) enabled: Option<bool>,
    pub(super) interval: Option<RaInterval>,
    pub(super) min_interval: Option<u32>,
    pub(super) router_lifetime: Option<u32>,
    pub(super) managed: Option<bool>,
    pub(super) other_config: Option<bool>,
    pub(super) hop_limit: Option<HopLimit>,
    pub(super) reachable_time_ms: Option<ReachableTime>,
    pub(super) retrans_timer_ms: Option<u32>,
    pub(super) mtu: Option<u32>,
    pub(super) prefixes: Option<Vec<RawRaPrefix>>,
    pub(super) rdnss: Option<RawRdnss>,
    pub(super) pref64: Option<RawPref64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRaPrefix {
    pub(super) prefix: RaPrefix,
    pub(super) on_link: Option<bool>,
    pub(super) autonomous: Option<bool>,
    pub(super) valid_lifetime: Option<u32>,
    pub(super) preferred_lifetime: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRdnss {
    pub(super) servers: Vec<UnicastV6>,
    pub(super) lifetime: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPref64 {
    pub(super) prefix: Nat64Prefix,
    pub(super) lifetime: Option<Pref64Lifetime>,
}

/// Checks `[interfaces.ra]` (`key` names it) of an interface with
/// addresses `ipv6` and MTU `mtu`, and fills in the defaults.
pub(super) fn validate_ra(
    v: &V<'_>,
    key: &str,
    r: &RawRa,
    ipv6: &[(Ipv6Addr, u8)],
    mtu: u16,
) -> Result<Option<RaSpec>, ConfigError> {
    if r.enabled == Some(false) {
        return Ok(None);
    }
    let k = |x: &str| format!("{key}.{x}");
    let interval = r.interval.map_or(600, |i| i.0);
    let max_ms = interval * 1000;
    let min_ms = match r.min_interval {
        Some(m) => {
            if m < 3 || u64::from(m) * 4 > u64::from(interval) * 3 {
                return v.err(
                    k("min_interval"),
                    format!(
                        "{m} is out of range; expected 3 seconds to 0.75 × interval ({interval} s)"
                    ),
                );
            }
            m * 1000
        }
        None => (max_ms / 100 * 33).max(3000),
    };
    let router_lifetime = r.router_lifetime.unwrap_or(1800);
    if router_lifetime != 0 && !(interval..=9000).contains(&router_lifetime) {
        return v.err(
            k("router_lifetime"),
            format!("{router_lifetime} is out of range; expected 0 (not a default router) or interval ({interval} s) to 9000 seconds"),
        );
    }
    let hop_limit = r.hop_limit.map_or(64, |h| h.0);
    let reachable_time = r.reachable_time_ms.map_or(0, |t| t.0);
    let ra_mtu = match r.mtu.unwrap_or(u32::from(mtu)) {
        0 => None,
        m if (1280..=u32::from(mtu)).contains(&m) => Some(m),
        m => {
            return v.err(
                k("mtu"),
                format!("{m} is out of range; expected 1280 to the interface's mtu ({mtu}), or 0 to leave the MTU option out"),
            )
        }
    };
    // A lifetime shorter than the interval lets hosts forget the
    // information between two advertisements.
    let lifetime_ok = |key: String, l: u32| -> Result<(), ConfigError> {
        if l != 0 && l < interval {
            return v.err(
                key,
                format!("{l} is shorter than interval ({interval} s): hosts would drop it between advertisements; use at least {interval} (0 withdraws)"),
            );
        }
        Ok(())
    };
    let prefixes = match &r.prefixes {
        None => {
            let mut out: Vec<PrefixInfo> = Vec::new();
            for &(a, l) in ipv6 {
                let is_ll = is_link_local(a);
                let IpAddr::V6(p) = network(IpAddr::V6(a), l) else {
                    continue;
                };
                if l == 64 && !is_ll && !out.iter().any(|x| x.prefix == p) {
                    out.push(PrefixInfo {
                        prefix_len: 64,
                        on_link: true,
                        autonomous: true,
                        valid_lifetime: 2_592_000,
                        preferred_lifetime: 604_800,
                        prefix: p,
                    });
                }
            }
            out
        }
        Some(list) => {
            let mut out: Vec<PrefixInfo> = Vec::new();
            for (j, p) in list.iter().enumerate() {
                let pk = |x: &str| format!("{key}.prefixes[{j}].{x}");
                let (a, l) = (p.prefix.net.addr, p.prefix.net.len);
                if out.iter().any(|x| x.prefix == a && x.prefix_len == l) {
                    return v.err(pk("prefix"), format!("{} is listed twice", p.prefix.text));
                }
                let autonomous = p.autonomous.unwrap_or(true);
                if autonomous && l != 64 {
                    return v.err(
                        pk("autonomous"),
                        format!("SLAAC needs a /64 prefix on Ethernet (RFC 4862 § 5.5.3, RFC 2464); {} is /{l}: set autonomous = false", p.prefix.text),
                    );
                }
                let valid = p.valid_lifetime.unwrap_or(2_592_000);
                let preferred = p.preferred_lifetime.unwrap_or(604_800);
                if preferred > valid {
                    return v.err(
                        pk("preferred_lifetime"),
                        format!("{preferred} is longer than valid_lifetime ({valid}); hosts ignore such a prefix (RFC 4862 § 5.5.3 c)"),
                    );
                }
                out.push(PrefixInfo {
                    prefix_len: l,
                    on_link: p.on_link.unwrap_or(true),
                    autonomous,
                    valid_lifetime: valid,
                    preferred_lifetime: preferred,
                    prefix: a,
                });
            }
            out
        }
    };
    let rdnss = match &r.rdnss {
        None => None,
        Some(d) => {
            if d.servers.is_empty() || d.servers.len() > 127 {
                return v.err(
                    k("rdnss.servers"),
                    format!(
                        "{} servers; expected 1 to 127 IPv6 addresses",
                        d.servers.len()
                    ),
                );
            }
            let servers = d.servers.iter().map(|s| s.0).collect();
            let lifetime = d.lifetime.unwrap_or(3 * interval);
            lifetime_ok(k("rdnss.lifetime"), lifetime)?;
            Some(RdnssSpec { servers, lifetime })
        }
    };
    let pref64 = match &r.pref64 {
        None => None,
        Some(p) => {
            let (a, l) = (p.prefix.0.addr, p.prefix.0.len);
            let lifetime = p.lifetime.map_or((3 * interval).min(65528), |l| l.0);
            lifetime_ok(k("pref64.lifetime"), lifetime)?;
            Some(Pref64Spec {
                prefix: a,
                len: l,
                lifetime,
            })
        }
    };
    let ra = RaSpec {
        max_interval_ms: max_ms,
        min_interval_ms: min_ms,
        hop_limit,
        managed: r.managed.unwrap_or(false),
        other_config: r.other_config.unwrap_or(false),
        router_lifetime: router_lifetime as u16,
        reachable_time,
        retrans_timer: r.retrans_timer_ms.unwrap_or(0),
        mtu: ra_mtu,
        prefixes,
        rdnss,
        pref64,
    };
    let len = 40 + ra.message_len();
    if len > usize::from(mtu) {
        return v.err(
            key,
            format!("the Router Advertisement would be {len} bytes, more than the interface's mtu ({mtu}); advertise fewer prefixes or DNS servers"),
        );
    }
    Ok(Some(ra))
}

#[cfg(test)]
mod tests {
    use super::super::router::tests::{err, ROUTER};
    use super::super::{Config, PipelineCfg};
    use std::net::Ipv6Addr;
    use xgw_pipelines::router::spec::{Pref64Spec, RaSpec};
    use xgw_pipelines::wire::ethernet::MacAddr;
    use xgw_pipelines::wire::ndp::PrefixInfo;

    /// `ROUTER` with an `[interfaces.ra]` table on "lan" holding `body`.
    fn with_ra(body: &str) -> String {
        ROUTER.replace(
            "rpf = \"strict\"\n",
            &format!("rpf = \"strict\"\n[interfaces.ra]\n{body}\n"),
        )
    }

    fn ra_of(text: &str) -> Option<RaSpec> {
        let c = Config::parse(text, "r.toml").unwrap();
        let PipelineCfg::Router(r) = &c.pipeline else {
            panic!()
        };
        assert_eq!(r.ifaces[1].ra, None, "only where configured");
        r.ifaces[0].ra.clone()
    }

    #[test]
    fn ra_defaults() {
        let ra = ra_of(&with_ra("")).expect("a table means enabled");
        assert_eq!(ra.max_interval_ms, 600_000);
        assert_eq!(ra.min_interval_ms, 198_000);
        assert_eq!(ra.router_lifetime, 1800);
        assert_eq!(ra.hop_limit, 64);
        assert!(!ra.managed && !ra.other_config);
        assert_eq!(ra.mtu, Some(1500), "the interface's MTU");
        assert_eq!(
            ra.prefixes,
            vec![PrefixInfo {
                prefix_len: 64,
                on_link: true,
                autonomous: true,
                valid_lifetime: 2_592_000,
                preferred_lifetime: 604_800,
                prefix: "2001:db8:1::".parse().unwrap(),
            }],
            "the interface's /64"
        );
        assert_eq!((ra.rdnss, ra.pref64), (None, None));
        assert_eq!(ra_of(&with_ra("enabled = false")), None);
        // the spec carries it to the router
        let c = Config::parse(&with_ra(""), "r.toml").unwrap();
        let PipelineCfg::Router(r) = &c.pipeline else {
            panic!()
        };
        let spec = r
            .spec(&[
                Some(MacAddr([2, 0, 0, 0, 0, 1])),
                Some(MacAddr([2, 0, 0, 0, 0, 2])),
            ])
            .unwrap();
        assert_eq!(
            spec.ifaces[0].ra.as_ref().map(|r| r.max_interval_ms),
            Some(600_000)
        );
        assert_eq!(spec.ifaces[1].ra, None);
        // short intervals: MinRtrAdvInterval never under 3 s
        let ra = ra_of(&with_ra("interval = 4")).unwrap();
        assert_eq!((ra.max_interval_ms, ra.min_interval_ms), (4000, 3000));
        assert_eq!(ra.router_lifetime, 1800);
    }

    #[test]
    fn ra_everything_set() {
        let ra = ra_of(&with_ra(
            r#"
            interval = 60
            min_interval = 20
            router_lifetime = 0
            managed = true
            other_config = true
            hop_limit = 0
            reachable_time_ms = 30000
            retrans_timer_ms = 1000
            mtu = 1280
            prefixes = [
              { prefix = "2001:db8:1::/64", valid_lifetime = 7200, preferred_lifetime = 3600 },
              { prefix = "2001:db8:100::/48", autonomous = false, on_link = false },
            ]
            rdnss = { servers = ["2001:db8::53", "2001:db8::54"], lifetime = 600 }
            pref64 = { prefix = "64:ff9b::/96", lifetime = 600 }
            "#,
        ))
        .unwrap();
        assert_eq!((ra.max_interval_ms, ra.min_interval_ms), (60_000, 20_000));
        assert_eq!(ra.router_lifetime, 0);
        assert!(ra.managed && ra.other_config);
        assert_eq!(
            (ra.hop_limit, ra.reachable_time, ra.retrans_timer),
            (0, 30_000, 1000)
        );
        assert_eq!(ra.mtu, Some(1280));
        assert_eq!(ra.prefixes.len(), 2);
        assert_eq!(
            (
                ra.prefixes[0].valid_lifetime,
                ra.prefixes[0].preferred_lifetime
            ),
            (7200, 3600)
        );
        let p = ra.prefixes[1];
        assert_eq!((p.prefix_len, p.on_link, p.autonomous), (48, false, false));
        let d = ra.rdnss.unwrap();
        assert_eq!(d.lifetime, 600);
        assert_eq!(d.servers[1], "2001:db8::54".parse::<Ipv6Addr>().unwrap());
        assert_eq!(
            ra.pref64,
            Some(Pref64Spec {
                prefix: "64:ff9b::".parse().unwrap(),
                len: 96,
                lifetime: 600
            })
        );
        // mtu = 0 leaves the option out; lifetimes default to 3 × interval
        let ra = ra_of(&with_ra(
            "interval = 100\nmtu = 0\nrdnss = { servers = [\"2001:db8::53\"] }\npref64 = { prefix = \"2001:db8:64::/48\" }",
        ))
        .unwrap();
        assert_eq!(ra.mtu, None);
        assert_eq!(ra.rdnss.unwrap().lifetime, 300);
        assert_eq!(ra.pref64.map(|p| (p.len, p.lifetime)), Some((48, 300)));
        // the [[interfaces]] inline form
        let inline = ROUTER.replace(
            "rpf = \"strict\"\n",
            "rpf = \"strict\"\n        ra = { interval = 30 }\n",
        );
        assert_eq!(ra_of(&inline).unwrap().max_interval_ms, 30_000);
    }

    #[test]
    fn ra_errors_name_their_key() {
        let cases: &[(&str, &str, &str)] = &[
            ("interval = 3", "interfaces[0].ra.interval", "4 to 1800"),
            ("interval = 2000", "interfaces[0].ra.interval", "4 to 1800"),
            ("interval = 100\nmin_interval = 80", "interfaces[0].ra.min_interval", "0.75"),
            ("min_interval = 2", "interfaces[0].ra.min_interval", "3 seconds"),
            ("interval = 100\nrouter_lifetime = 50", "interfaces[0].ra.router_lifetime", "9000"),
            ("router_lifetime = 9001", "interfaces[0].ra.router_lifetime", "9000"),
            ("hop_limit = 256", "interfaces[0].ra.hop_limit", "255"),
            ("reachable_time_ms = 3600001", "interfaces[0].ra.reachable_time_ms", "3600000"),
            ("mtu = 1600", "interfaces[0].ra.mtu", "interface's mtu (1500)"),
            ("mtu = 1000", "interfaces[0].ra.mtu", "1280"),
            ("colour = 1", "interfaces[0].ra.colour", "unknown field"),
            ("managed = 1", "interfaces[0].ra.managed", "bool"),
            (
                "prefixes = [{ prefix = \"2001:db8:1::1/64\" }]",
                "interfaces[0].ra.prefixes[0].prefix",
                "host bits",
            ),
            (
                "prefixes = [{ prefix = \"2001:db8:1::\" }]",
                "interfaces[0].ra.prefixes[0].prefix",
                "prefix length",
            ),
            (
                "prefixes = [{ prefix = \"2001:db8:1::/64\" }, { prefix = \"fe80::/64\" }]",
                "interfaces[0].ra.prefixes[1].prefix",
                "link-local",
            ),
            (
                "prefixes = [{ prefix = \"2001:db8::/48\" }]",
                "interfaces[0].ra.prefixes[0].autonomous",
                "/64",
            ),
            (
                "prefixes = [{ prefix = \"2001:db8:1::/64\", valid_lifetime = 60, preferred_lifetime = 120 }]",
                "interfaces[0].ra.prefixes[0].preferred_lifetime",
                "valid_lifetime",
            ),
            (
                "prefixes = [{ prefix = \"2001:db8:1::/64\" }, { prefix = \"2001:db8:1::/64\" }]",
                "interfaces[0].ra.prefixes[1].prefix",
                "twice",
            ),
            (
                "prefixes = [{ prefix = \"2001:db8:1::/64\", valid_lifetime = -1 }]",
                "interfaces[0].ra.prefixes[0].valid_lifetime",
                "",
            ),
            ("rdnss = { servers = [] }", "interfaces[0].ra.rdnss.servers", "1 to 127"),
            (
                "rdnss = { servers = [\"2001:db8::53\", \"10.0.0.53\"] }",
                "interfaces[0].ra.rdnss.servers[1]",
                "IPv6",
            ),
            (
                "rdnss = { servers = [\"ff02::1\"] }",
                "interfaces[0].ra.rdnss.servers[0]",
                "unicast",
            ),
            (
                "rdnss = { servers = [\"2001:db8::53\"], lifetime = 10 }",
                "interfaces[0].ra.rdnss.lifetime",
                "shorter than interval",
            ),
            ("rdnss = { lifetime = 600 }", "interfaces[0].ra.rdnss.servers", "missing"),
            (
                "pref64 = { prefix = \"64:ff9b::/80\" }",
                "interfaces[0].ra.pref64.prefix",
                "32, 40, 48, 56, 64 or 96",
            ),
            (
                "pref64 = { prefix = \"64:ff9b::1/96\" }",
                "interfaces[0].ra.pref64.prefix",
                "host bits",
            ),
            (
                "pref64 = { prefix = \"64:ff9b::/96\", lifetime = 65529 }",
                "interfaces[0].ra.pref64.lifetime",
                "65528",
            ),
            (
                "pref64 = { prefix = \"64:ff9b::/96\", lifetime = 100 }",
                "interfaces[0].ra.pref64.lifetime",
                "shorter than interval",
            ),
        ];
        for (body, key, what) in cases {
            let e = err(&with_ra(body));
            assert!(
                e.contains(&format!("key `{key}`")) && e.contains(what),
                "{body}: {e}"
            );
        }
        // too big for the link: 40 + 72 + 8 + 90 × 16 = 1560 bytes > 1500
        let servers: Vec<String> = (1..=90).map(|i| format!("\"2001:db8::{i:x}\"")).collect();
        let e = err(&with_ra(&format!(
            "rdnss = {{ servers = [{}] }}",
            servers.join(", ")
        )));
        assert!(
            e.contains("key `interfaces[0].ra`") && e.contains("more than the interface's mtu"),
            "{e}"
        );
    }
}
