//! Pipeline functions: what the engine knows about one kind of pipeline
//! (`l2fwd`, `router`; later `gtpu`, `nat64`), through one interface.
//!
//! A function is a [`Function`] (a unit value in the registry [`ALL`]):
//! its name (the config's `pipeline.kind`), the validation of its config
//! section, the node list for `xgw graph`, its control-socket commands and
//! CLI subcommands, and the text rendering of its extra `xgw stats`
//! sections. [`Function::instance`] builds an engine's [`Instance`] from a
//! validated config: the state shared by all workers and the control
//! thread (for the router: the RIB and its route handle, the neighbour
//! bus). The instance builds each worker's pipeline, names the multicast
//! groups live ports join, answers the function's control commands and
//! adds its sections to `stats`.
//!
//! `engine.rs`, `control.rs`, `main.rs` and `stats.rs` only see these two
//! traits. A new function is one file here implementing them and one line
//! in [`ALL`] (plus, if it has TOML tables of its own, their serde side
//! in `config/`).

pub mod l2fwd;
pub mod router;

use std::any::Any;

use serde_json::{json, Map, Value};
use xgw_pipelines::wire::ethernet::MacAddr;
use xgw_pipelines::{NodeInfo, Pipeline};

use crate::config::{Config, ConfigError, PipelineCfg, Section};

/// Every pipeline function, by the config's `pipeline.kind`. Order
/// matters only for error precedence: when validating, each function that
/// is not the configured one refuses its own tables, in this order.
pub static ALL: &[&dyn Function] = &[&l2fwd::L2fwd, &router::Router];

/// One kind of pipeline, as the engine, the control socket and the CLI
/// see it. Implementations are unit values listed in [`ALL`].
pub trait Function: Sync {
    /// The config's `pipeline.kind` value (also used in messages).
    fn name(&self) -> &'static str;

    /// Whether a validated pipeline config is this function's.
    fn owns(&self, cfg: &PipelineCfg) -> bool;

    /// Validates this function's config section (the configured one).
    /// Errors name the file and the key.
    fn validate(&self, section: &Section<'_>) -> Result<PipelineCfg, ConfigError>;

    /// Another function is configured: refuses this function's own
    /// tables if the file has them.
    fn refuse_tables(&self, _section: &Section<'_>) -> Result<(), ConfigError> {
        Ok(())
    }

    /// The nodes of the pipeline `cfg` configures, with their arcs (what
    /// every worker's pipeline reports through `Pipeline::nodes`).
    fn nodes(&self, cfg: &PipelineCfg) -> Vec<NodeInfo>;

    /// Builds an engine's shared state for `workers` workers, given each
    /// port's MAC (`None` if unknown).
    fn instance(
        &self,
        cfg: &Config,
        macs: &[Option<MacAddr>],
        workers: usize,
    ) -> Result<Box<dyn Instance>, String>;

    /// Control-socket commands this function answers (through
    /// [`Instance::answer`]).
    fn commands(&self) -> &'static [&'static str] {
        &[]
    }

    /// Adds this function's subcommands to the `xgw` command line.
    fn cli(&self, cmd: clap::Command) -> clap::Command {
        cmd
    }

    /// Runs the subcommand `m` names if it is one of this function's
    /// (`None`: not ours).
    fn run_cli(&self, _m: &clap::ArgMatches) -> Option<anyhow::Result<()>> {
        None
    }

    /// Renders the sections [`Instance::stats`] added to a `stats`
    /// answer, for people (appended to the table before the totals line;
    /// nothing if they are absent).
    fn render_stats(&self, _stats: &Value, _out: &mut String) {}
}

/// Multicast groups a live port joins for a function.
pub struct PortGroups {
    pub groups: Vec<MacAddr>,
    /// What they are, in the setup error ("joining {what} on ...").
    pub what: &'static str,
    /// What they are, in the log line once joined ("joined {joined}").
    pub joined: &'static str,
}

/// One engine's instance of a [`Function`]: the state its workers share
/// with the control thread. Built once per engine (see
/// [`Function::instance`]), then owned by the control thread.
pub trait Instance: Send {
    /// The function this is an instance of.
    fn function(&self) -> &'static dyn Function;

    /// Builds worker `worker`'s pipeline.
    fn build_worker(&self, worker: usize) -> Result<Box<dyn Pipeline>, String>;

    /// Multicast groups live port `port` (an AF_XDP port) joins.
    fn port_groups(&self, _port: usize) -> Option<PortGroups> {
        None
    }

    /// The groups port `port` would join with configuration `new` (what
    /// a dry-run reload lists; `None`: the function joins none).
    fn planned_groups(&self, _new: &Config, _port: usize) -> Option<PortGroups> {
        None
    }

    /// Answers one of [`Function::commands`]; `req` is the whole request.
    fn answer(&mut self, cmd: &str, _req: &Value) -> Value {
        json!({"error": format!("unknown {} command {cmd:?}", self.function().name())})
    }

    /// Adds this function's sections (counters) to a `stats` answer.
    fn stats(&mut self, _out: &mut Map<String, Value>) {}

    /// A descriptor the control loop polls for this function (a PFCP
    /// socket); [`Instance::io`] runs every loop turn (about every 20 ms,
    /// and when the descriptor is readable).
    fn io_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }

    /// See [`Instance::io_fd`]: reads what arrived, runs timers.
    fn io(&mut self) {}

    /// `xgw reload`, first half: checks that `new` (validated, the same
    /// function's) differs from `old` (the running configuration) only in
    /// what this function changes at run time, and plans it without
    /// changing anything. Returns one line per change and the plan for
    /// [`Instance::apply_reload`]; `Err`: a sentence naming the key.
    /// By default any change of the pipeline's tables is refused.
    #[allow(clippy::type_complexity)]
    fn plan_reload(
        &self,
        old: &Config,
        new: &Config,
    ) -> Result<(Vec<String>, Box<dyn Any + Send>), String> {
        if format!("{:?}", old.pipeline) == format!("{:?}", new.pipeline) {
            Ok((Vec::new(), Box::new(())))
        } else {
            Err(format!(
                "the {} pipeline's tables changed, which only a restart applies",
                self.function().name()
            ))
        }
    }

    /// `xgw reload`, second half: applies what [`Instance::plan_reload`]
    /// returned; on `Err` it has undone its own steps.
    fn apply_reload(&mut self, _plan: Box<dyn Any + Send>) -> Result<(), String> {
        Ok(())
    }

    /// The concrete instance (tests and benches that drive a function's
    /// control state directly).
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

/// The function a name (the config's `pipeline.kind`) stands for.
pub fn by_name(name: &str) -> Option<&'static dyn Function> {
    ALL.iter().copied().find(|f| f.name() == name)
}

/// The function a validated config configures.
pub fn of(cfg: &Config) -> &'static dyn Function {
    ALL.iter()
        .copied()
        .find(|f| f.owns(&cfg.pipeline))
        .expect("every pipeline config belongs to a registered function")
}

/// The function that answers control command `cmd`, if any.
pub fn command_owner(cmd: &str) -> Option<&'static dyn Function> {
    ALL.iter().copied().find(|f| f.commands().contains(&cmd))
}

/// Every function's control commands, in registry order.
pub fn all_commands() -> impl Iterator<Item = &'static str> {
    ALL.iter().flat_map(|f| f.commands().iter().copied())
}

/// The `xgw` command line with every function's subcommands added.
pub fn cli(cmd: clap::Command) -> clap::Command {
    ALL.iter().fold(cmd, |c, f| f.cli(c))
}

/// Runs a function's subcommand if `m` names one.
pub fn run_cli(m: &clap::ArgMatches) -> Option<anyhow::Result<()>> {
    ALL.iter().find_map(|f| f.run_cli(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_commands_are_unique() {
        let mut names: Vec<&str> = ALL.iter().map(|f| f.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        let mut cmds: Vec<&str> = all_commands().collect();
        let n = cmds.len();
        cmds.sort_unstable();
        cmds.dedup();
        assert_eq!(cmds.len(), n, "two functions claim one command");
        for c in ["stats", "runtime", "ping", "drop-reasons"] {
            assert!(command_owner(c).is_none(), "{c} is the engine's");
        }
        assert_eq!(by_name("router").map(|f| f.name()), Some("router"));
        assert!(by_name("gtpu").is_none());
    }

    const ROUTER: &str = r#"
        [engine]
        cores = [0, 1]
        [[ports]]
        name = "p0"
        driver = "mem"
        [[ports]]
        name = "p1"
        driver = "mem"
        [pipeline]
        kind = "router"
        [[interfaces]]
        name = "lan"
        port = "p0"
        ipv4 = ["10.1.0.1/24"]
        ipv6 = ["2001:db8:1::1/64"]
    "#;

    #[test]
    fn each_config_finds_its_function() {
        let demo = Config::embedded_demo();
        assert!(of(&demo).owns(&demo.pipeline));
        let r = Config::parse(ROUTER, "t.toml").unwrap();
        assert_eq!(of(&r).name(), "router");
        let macs = [
            Some(MacAddr([2, 0, 0, 0, 0, 1])),
            Some(MacAddr([2, 0, 0, 0, 0, 2])),
        ];
        let inst = of(&r).instance(&r, &macs, 2).unwrap();
        assert_eq!(inst.function().name(), "router");
        assert!(inst.build_worker(1).is_ok());
        let g = inst.port_groups(0).unwrap();
        assert!(g.groups.contains(&MacAddr([0x33, 0x33, 0, 0, 0, 2])));
        assert!(router::control(inst).is_some());
        let l2 = of(&demo).instance(&demo, &[None, None], 1).unwrap();
        assert!(l2.port_groups(0).is_none());
        assert!(router::control(l2).is_none());
    }

    /// An instance that adds a `stats` section, to see the hook used.
    struct Counting(u64);

    impl Instance for Counting {
        fn function(&self) -> &'static dyn Function {
            &l2fwd::L2fwd
        }
        fn build_worker(&self, _: usize) -> Result<Box<dyn Pipeline>, String> {
            Err("no workers".into())
        }
        fn stats(&mut self, out: &mut Map<String, Value>) {
            self.0 += 1;
            out.insert("counting".into(), json!({"asked": self.0}));
        }
        fn into_any(self: Box<Self>) -> Box<dyn Any> {
            self
        }
    }

    /// The control socket answers a function's commands through its
    /// instance, refuses them by the function's name when another one
    /// runs, and lists every function's commands for unknown ones; an
    /// instance's `stats` sections appear in the answer.
    #[test]
    fn the_control_socket_goes_through_the_instance() {
        use crate::control::StatsSource;
        let r = Config::parse(ROUTER, "t.toml").unwrap();
        let macs = [Some(MacAddr([2, 0, 0, 0, 0, 1])), None];
        let inst = of(&r).instance(&r, &macs, 1).unwrap();
        let mut src = StatsSource::new(Vec::new(), Vec::new()).with_function(inst);
        let v = src.answer("route-list");
        assert_eq!(v["routes"][0]["prefix"], "10.1.0.0/24", "{v}");
        assert!(src.answer("stats").get("counting").is_none());

        let mut src = StatsSource::new(Vec::new(), Vec::new()).with_function(Box::new(Counting(0)));
        assert_eq!(
            src.answer("neigh")["error"],
            "neigh: this engine runs no router pipeline"
        );
        assert_eq!(src.answer("stats")["counting"]["asked"], 1);
        assert_eq!(src.answer("stats")["counting"]["asked"], 2);
        let e = src.answer("nope")["error"].as_str().unwrap().to_string();
        assert!(
            e.ends_with("expected one of: stats, runtime, ping, reload, drop-reasons, capture-arm, capture-read, capture-stop, route-list, route-add, route-del, neigh, tunnel-list, tunnel-add, tunnel-del, gtp-session-add, gtp-session-mod, gtp-session-del, gtp-session-list, gtp-session-show, gtp-stats, gtp-peers, pfcp-associations, pfcp-sessions, nat64-sessions, nat64-bib, trace-arm, trace-read, trace-stop"),
            "{e}"
        );
        let mut bare = StatsSource::new(Vec::new(), Vec::new());
        assert_eq!(
            bare.answer("tunnel-list")["error"],
            "tunnel-list: this engine runs no router pipeline"
        );
    }
}
