//! The router core: parse/classify, local delivery (ARP, NDP, ICMP echo),
//! IPv4/IPv6 forwarding, ICMP errors, neighbour resolution, reverse-path
//! filtering.

pub mod spec;

/// Builds the router pipeline for one worker.
pub fn build(_spec: &spec::RouterSpec) -> Result<Box<dyn crate::Pipeline>, String> {
    Err(
        "pipeline.kind = \"router\": the router's forwarding stages are not in this build yet \
         (configuration is validated; see issue 3)"
            .into(),
    )
}
pub mod neigh;
