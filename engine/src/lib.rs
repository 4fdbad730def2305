//! xgw's runtime: UMEM and frames, ports (AF_XDP, mem, pcap), pinned
//! poll-mode workers, the burst runner, lock-free stats, the control
//! socket and configuration. This is the only crate with `unsafe` code;
//! every block says why it holds.

pub mod bpf;
pub mod capture;
pub mod cli;
pub mod config;
pub mod control;
pub mod engine;
pub mod function;
pub mod gen;
pub mod gtpctl;
pub mod netdev;
pub mod pfcp;
pub mod port;
pub mod prometheus;
pub mod reload;
pub mod replay;
pub mod routectl;
pub mod stats;
pub mod testing;
pub mod umem;
pub mod worker;

pub use config::Config;
