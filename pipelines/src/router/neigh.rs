//! The neighbour cache (RFC 826 / RFC 4861 §7.3), one per worker.
//!
//! A fixed-capacity open-addressing table (linear probing, backward-shift
//! deletion): nothing is allocated after start, and a lookup is a hash and
//! one or two probes. States, with the simplification we document:
//!
//! - `Incomplete`: a request/solicitation is out; frames for it are parked
//!   (bounded per entry); retransmitted every `RETRANS` up to `MAX_PROBES`,
//!   then the entry is removed and its frames dropped as
//!   `neigh.resolution_failed`.
//! - `Reachable`: confirmed within `REACHABLE_TIME`.
//! - `Stale`: older, still used for forwarding. The first use starts a
//!   delay (`DELAY`) after which unicast probes are sent (RFC 4861's DELAY
//!   and PROBE states merged into `Probe`); a reply makes it `Reachable`,
//!   no reply after `MAX_PROBES` removes it.
//! - `Static`: from the config; never changes.
//!
//! Workers learn independently; what one learns from a reply is broadcast
//! to the others through [`NeighborBus`] (bounded lock-free queues), so a
//! reply landing on another worker's queue still completes resolution.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_queue::ArrayQueue;

use super::spec::IfaceId;
use crate::wire::ethernet::MacAddr;

pub const REACHABLE_TIME_NS: u64 = 30_000_000_000;
pub const RETRANS_NS: u64 = 1_000_000_000;
pub const DELAY_NS: u64 = 5_000_000_000;
pub const MAX_PROBES: u8 = 3;
/// Frames parked per unresolved neighbour (Linux's default unres_qlen_bytes
/// is about 100 kB; we count frames).
pub const MAX_PARKED_PER_ENTRY: u16 = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Incomplete,
    Reachable,
    Stale,
    Probe,
    Static,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Incomplete => "INCOMPLETE",
            State::Reachable => "REACHABLE",
            State::Stale => "STALE",
            State::Probe => "PROBE",
            State::Static => "PERMANENT",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub iface: IfaceId,
    pub ip: IpAddr,
}

#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub key: Key,
    pub mac: MacAddr,
    pub state: State,
    /// Last confirmation (or creation).
    pub confirmed_ns: u64,
    /// When the next probe is due (Incomplete/Probe), or the delay ends.
    pub next_ns: u64,
    pub probes: u8,
    /// Frames parked waiting for this entry.
    pub parked: u16,
    /// Park token (stable while the entry lives).
    pub token: u32,
    /// The cache's generation when this entry last changed (unique per
    /// change): what a memo of it checks to stay valid per entry
    /// ([`NeighCache::stamp_at`]).
    pub stamp: u64,
}

/// What to do with a frame for a next hop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Send to this MAC.
    Hit(MacAddr),
    /// Send to this MAC and also probe it now (entry went to Probe).
    HitProbe(MacAddr),
    /// Park under this token; `probe` says whether to send a request now.
    Park { token: u32, probe: bool },
    /// The entry's pending queue is full.
    QueueFull,
    /// The table is full of entries that cannot be evicted.
    TableFull,
}

/// Something a timer decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Send a (multicast) request / solicitation again.
    Retransmit(Key),
    /// Send a unicast probe to the known MAC.
    Probe(Key, MacAddr),
    /// Resolution failed: drop the frames parked under the token.
    Failed(Key, u32),
}

/// A learned binding, as broadcast between workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Learned {
    pub key: Key,
    pub mac: MacAddr,
    /// A solicited reply (confirms reachability) rather than a hint.
    pub confirmed: bool,
    /// May replace a different known address (see [`NeighCache::learn`]).
    pub overrides: bool,
    /// May add an unknown neighbour (see [`NeighCache::learn`]): the other
    /// workers follow the same merge rule as the one that saw the packet,
    /// so a hint (an ARP request between two other hosts) refreshes their
    /// entries but does not create any.
    pub create: bool,
}

/// Entries per worker cache.
pub const NEIGH_CAPACITY: usize = 4096;

/// How often a worker republishes its cache for `xgw neigh`.
pub const VIEW_INTERVAL_NS: u64 = 500_000_000;

/// A worker's cache as last published for the control thread.
#[derive(Default)]
pub struct NeighView {
    pub entries: Vec<Entry>,
    /// The worker's per-tunnel counters, by slot.
    pub tunnels: Vec<crate::ipip::TunnelCount>,
    /// The worker's clock when it published (0: never).
    pub at_ns: u64,
}

/// Per-worker inboxes for learned bindings, and the published views of
/// every worker's cache.
pub struct NeighborBus {
    inboxes: Vec<ArrayQueue<Learned>>,
    views: Vec<Mutex<NeighView>>,
    /// When any worker last solicited an address (ARP request or NS), by a
    /// hash of its key: `now_ns` + 1, 0 = never. A solicited answer may
    /// land on another worker's queue; it creates an entry there only if
    /// the router asked recently (RFC 4861 §7.2.5: an advertisement for
    /// an address with no entry is otherwise discarded). Collisions only
    /// make the rule more lenient for the colliding address.
    asked: Box<[AtomicU64]>,
    /// Each worker's NAT64 tables as last published (`xgw nat64`).
    pub nat64: Vec<Mutex<crate::nat64::View>>,
    /// Stateful NAT64 with several workers: each worker's inbound ring of
    /// packets another worker handed over (the binding is this worker's).
    /// Made once, at build, when needed.
    pub handoff: std::sync::OnceLock<Vec<ArrayQueue<crate::nat64::Handoff>>>,
    /// `xgw trace`: armed by the control thread, read once per burst.
    pub trace: crate::trace::TraceBus,
}

/// Slots of [`NeighborBus`]'s recent-solicitation filter.
const ASKED_SLOTS: usize = 1024;
/// How long a solicitation counts as recent: every retransmission and a
/// last retransmit interval.
pub const ASKED_NS: u64 = RETRANS_NS * (MAX_PROBES as u64 + 1);

impl NeighborBus {
    /// The workers it serves.
    pub fn workers(&self) -> usize {
        self.inboxes.len()
    }

    pub fn new(workers: usize) -> Arc<Self> {
        let n = workers.max(1);
        Arc::new(NeighborBus {
            inboxes: (0..n).map(|_| ArrayQueue::new(1024)).collect(),
            views: (0..n)
                .map(|_| {
                    Mutex::new(NeighView {
                        entries: Vec::with_capacity(NEIGH_CAPACITY),
                        tunnels: crate::ipip::new_counts(),
                        at_ns: 0,
                    })
                })
                .collect(),
            asked: (0..ASKED_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            nat64: (0..n)
                .map(|_| Mutex::new(crate::nat64::View::default()))
                .collect(),
            handoff: std::sync::OnceLock::new(),
            trace: crate::trace::TraceBus::default(),
        })
    }

    /// Notes that this router solicits `key` now (one store per request
    /// sent, never per packet).
    pub fn note_asked(&self, key: &Key, now_ns: u64) {
        let slot = &self.asked[hash(key) as usize % ASKED_SLOTS];
        slot.store(now_ns.wrapping_add(1), Ordering::Relaxed);
    }

    /// Whether some worker solicited `key` within [`ASKED_NS`].
    pub fn asked_recently(&self, key: &Key, now_ns: u64) -> bool {
        let at = self.asked[hash(key) as usize % ASKED_SLOTS].load(Ordering::Relaxed);
        at != 0 && now_ns.wrapping_sub(at - 1) <= ASKED_NS
    }

    /// Replaces worker `worker`'s view with `entries`, unless the control
    /// thread is reading it right now (then the next interval will do).
    /// Never blocks and never allocates while the cache stays within
    /// [`NEIGH_CAPACITY`].
    pub fn publish_view<'a>(
        &self,
        worker: usize,
        now_ns: u64,
        entries: impl Iterator<Item = &'a Entry>,
        tunnels: &[crate::ipip::TunnelCount],
    ) -> bool {
        let Some(m) = self.views.get(worker) else {
            return false;
        };
        let Ok(mut v) = m.try_lock() else {
            return false;
        };
        v.entries.clear();
        v.entries.extend(entries.take(NEIGH_CAPACITY));
        let n = tunnels.len().min(v.tunnels.len());
        v.tunnels[..n].copy_from_slice(&tunnels[..n]);
        v.at_ns = now_ns;
        true
    }

    /// Calls `f` with each worker's view (control thread).
    pub fn read_views(&self, mut f: impl FnMut(usize, &NeighView)) {
        for (i, m) in self.views.iter().enumerate() {
            let v = m.lock().unwrap_or_else(|e| e.into_inner());
            f(i, &v);
        }
    }

    /// Tells every worker but `from`. A full inbox loses the message; that
    /// worker then resolves by itself.
    pub fn publish(&self, from: usize, l: Learned) {
        for (i, q) in self.inboxes.iter().enumerate() {
            if i != from {
                let _ = q.push(l);
            }
        }
    }

    pub fn take(&self, worker: usize) -> Option<Learned> {
        self.inboxes.get(worker)?.pop()
    }
}

fn hash(k: &Key) -> u64 {
    // A multiply-xorshift mix of the key (not adversary-resistant; the
    // table is bounded and entries need a request/reply to be created).
    let ip = match k.ip {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a) ^ (1 << 127),
    };
    let mut h = (ip as u64) ^ ((ip >> 64) as u64).rotate_left(29) ^ ((k.iface as u64) << 48);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

pub struct NeighCache {
    slots: Vec<Option<Entry>>,
    mask: usize,
    len: usize,
    max: usize,
    next_token: u32,
    /// Moves whenever an entry may have changed (see [`NeighCache::gen`]).
    gen: u64,
}

impl NeighCache {
    /// A cache holding up to `max` entries (table sized 2× for probing).
    pub fn new(max: usize) -> Self {
        let size = (max.max(8) * 2).next_power_of_two();
        NeighCache {
            slots: vec![None; size],
            mask: size - 1,
            len: 0,
            max: max.max(8),
            next_token: 1,
            gen: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// A generation number that changes whenever any entry may have
    /// changed (learned, aged, probed, added, removed): a caller may keep
    /// what a lookup answered for as long as it stays the same (and the
    /// entry's reachable time lasts).
    #[inline]
    pub fn gen(&self) -> u64 {
        self.gen
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn find(&self, k: &Key) -> Result<usize, usize> {
        let mut i = hash(k) as usize & self.mask;
        loop {
            match &self.slots[i] {
                Some(e) if e.key == *k => return Ok(i),
                Some(_) => i = (i + 1) & self.mask,
                None => return Err(i),
            }
        }
    }

    pub fn get(&self, k: &Key) -> Option<&Entry> {
        self.find(k).ok().and_then(|i| self.slots[i].as_ref())
    }

    /// The slot of `k`'s entry (for [`NeighCache::stamp_at`]) and the entry.
    pub fn get_slot(&self, k: &Key) -> Option<(usize, &Entry)> {
        let i = self.find(k).ok()?;
        Some((i, self.slots[i].as_ref()?))
    }

    /// The stamp of the entry in `slot`, if any: equal to an earlier
    /// reading exactly when that entry is still there, unchanged (entries
    /// moved to another slot, changed, removed or replaced read otherwise).
    #[inline]
    pub fn stamp_at(&self, slot: usize) -> Option<u64> {
        self.slots.get(slot)?.as_ref().map(|e| e.stamp)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.slots.iter().flatten()
    }

    fn remove_at(&mut self, mut i: usize) -> Option<Entry> {
        self.gen += 1;
        let out = self.slots[i].take();
        self.len -= out.is_some() as usize;
        // Backward-shift deletion keeps probe chains intact.
        let mut j = i;
        loop {
            j = (j + 1) & self.mask;
            let Some(e) = self.slots[j] else { break };
            let home = hash(&e.key) as usize & self.mask;
            // Move e into the hole if its home is not in (i, j].
            let in_range = if i <= j {
                home > i && home <= j
            } else {
                home > i || home <= j
            };
            if !in_range {
                self.slots[i] = self.slots[j].take();
                i = j;
            }
        }
        out
    }

    pub fn remove(&mut self, k: &Key) -> Option<Entry> {
        let i = self.find(k).ok()?;
        self.remove_at(i)
    }

    fn insert_new(&mut self, mut e: Entry) -> bool {
        self.gen += 1;
        e.stamp = self.gen;
        if self.len >= self.max && !self.evict_one() {
            return false;
        }
        match self.find(&e.key) {
            Ok(i) => self.slots[i] = Some(e),
            Err(i) => {
                self.slots[i] = Some(e);
                self.len += 1;
            }
        }
        true
    }

    /// Drops the oldest Stale entry with nothing parked, if any.
    fn evict_one(&mut self) -> bool {
        let victim = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_ref().map(|e| (i, e)))
            .filter(|(_, e)| e.state == State::Stale && e.parked == 0)
            .min_by_key(|(_, e)| e.confirmed_ns)
            .map(|(i, _)| i);
        match victim {
            Some(i) => {
                self.remove_at(i);
                true
            }
            None => false,
        }
    }

    fn token(&mut self) -> u32 {
        let t = self.next_token;
        // (Below 1 << 30: NAT64's held SYNs have 1 << 30 and up, GTP-U's
        // buffered downlink 1 << 31 and up.)
        self.next_token = (self.next_token.wrapping_add(1) & 0x3fff_ffff).max(1);
        t
    }

    /// Adds a static entry from the config.
    pub fn add_static(&mut self, key: Key, mac: MacAddr) -> bool {
        self.gen += 1;
        let token = self.token();
        self.insert_new(Entry {
            key,
            mac,
            state: State::Static,
            confirmed_ns: 0,
            next_ns: 0,
            probes: 0,
            parked: 0,
            token,
            stamp: 0,
        })
    }

    /// The forwarding decision for a frame whose next hop is `k`.
    pub fn lookup(&mut self, k: Key, now: u64) -> Lookup {
        match self.find(&k) {
            Ok(i) => {
                let Some(e) = self.slots[i].as_mut() else {
                    return Lookup::TableFull;
                };
                match e.state {
                    State::Static | State::Probe => Lookup::Hit(e.mac),
                    State::Reachable if now.saturating_sub(e.confirmed_ns) < REACHABLE_TIME_NS => {
                        Lookup::Hit(e.mac)
                    }
                    State::Reachable | State::Stale => {
                        // First use of a stale entry: probe after a delay.
                        self.gen += 1;
                        e.stamp = self.gen;
                        e.state = State::Probe;
                        e.probes = 0;
                        e.next_ns = now + DELAY_NS;
                        Lookup::Hit(e.mac)
                    }
                    State::Incomplete => {
                        if e.parked >= MAX_PARKED_PER_ENTRY {
                            return Lookup::QueueFull;
                        }
                        e.parked += 1;
                        Lookup::Park {
                            token: e.token,
                            probe: false,
                        }
                    }
                }
            }
            Err(_) => {
                let token = self.token();
                let e = Entry {
                    key: k,
                    mac: MacAddr::default(),
                    state: State::Incomplete,
                    confirmed_ns: now,
                    next_ns: now + RETRANS_NS,
                    probes: 1,
                    parked: 1,
                    token,
                    stamp: 0,
                };
                if self.insert_new(e) {
                    Lookup::Park { token, probe: true }
                } else {
                    Lookup::TableFull
                }
            }
        }
    }

    /// Records a binding seen on the wire. `confirmed`: a reply to our
    /// request (or a solicited advertisement) rather than a hint from a
    /// request/unsolicited message. `create`: whether an unknown neighbour
    /// may be added (RFC 826's merge rule: only when the packet was for us).
    /// `overrides`: the address may replace a different known one (false
    /// only for a Neighbor Advertisement with the Override flag clear).
    /// Returns the park token to release if the entry was waiting.
    pub fn learn(
        &mut self,
        key: Key,
        mac: MacAddr,
        confirmed: bool,
        overrides: bool,
        create: bool,
        now: u64,
    ) -> Option<u32> {
        self.gen += 1;
        match self.find(&key) {
            Ok(i) => {
                let e = self.slots[i].as_mut()?;
                e.stamp = self.gen;
                match e.state {
                    State::Static => None,
                    State::Incomplete => {
                        e.mac = mac;
                        e.state = if confirmed {
                            State::Reachable
                        } else {
                            State::Stale
                        };
                        e.confirmed_ns = now;
                        e.probes = 0;
                        let parked = std::mem::take(&mut e.parked);
                        (parked > 0).then_some(e.token)
                    }
                    _ => {
                        let changed = e.mac != mac;
                        // RFC 4861 §7.2.5: an advertisement without the
                        // Override flag does not replace a known address;
                        // it only makes a REACHABLE entry STALE.
                        if changed && !overrides {
                            if e.state == State::Reachable {
                                e.state = State::Stale;
                            }
                            return None;
                        }
                        e.mac = mac;
                        if confirmed {
                            e.state = State::Reachable;
                            e.confirmed_ns = now;
                            e.probes = 0;
                        } else if changed {
                            e.state = State::Stale;
                        }
                        None
                    }
                }
            }
            Err(_) if create => {
                let token = self.token();
                let state = if confirmed {
                    State::Reachable
                } else {
                    State::Stale
                };
                self.insert_new(Entry {
                    key,
                    mac,
                    state,
                    confirmed_ns: now,
                    next_ns: 0,
                    probes: 0,
                    parked: 0,
                    token,
                    stamp: 0,
                });
                None
            }
            Err(_) => None,
        }
    }

    /// Runs timers; calls `f` for each thing to do (at most `budget`).
    pub fn tick(&mut self, now: u64, budget: usize, mut f: impl FnMut(Timer)) {
        // The generation moves only when an answer ip-rewrite may have
        // memoised changes (an entry removed — `remove_at` counts that —
        // or gone STALE); retransmissions and probe counts do not.
        let mut done = 0;
        let mut i = 0;
        while i < self.slots.len() && done < budget {
            let Some(e) = self.slots[i].as_mut() else {
                i += 1;
                continue;
            };
            match e.state {
                State::Incomplete if now >= e.next_ns => {
                    if e.probes >= MAX_PROBES {
                        let (k, t) = (e.key, e.token);
                        self.remove_at(i);
                        f(Timer::Failed(k, t));
                        done += 1;
                        continue; // slot i now holds a shifted entry
                    }
                    e.probes += 1;
                    e.next_ns = now + RETRANS_NS;
                    f(Timer::Retransmit(e.key));
                    done += 1;
                }
                State::Probe if now >= e.next_ns => {
                    if e.probes >= MAX_PROBES {
                        self.remove_at(i);
                        done += 1;
                        continue;
                    }
                    e.probes += 1;
                    e.next_ns = now + RETRANS_NS;
                    f(Timer::Probe(e.key, e.mac));
                    done += 1;
                }
                State::Reachable if now.saturating_sub(e.confirmed_ns) >= REACHABLE_TIME_NS => {
                    e.state = State::Stale;
                    self.gen += 1;
                    e.stamp = self.gen;
                }
                _ => {}
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(i: u32) -> Key {
        Key {
            iface: 0,
            ip: IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i)),
        }
    }
    const M: MacAddr = MacAddr([2, 0, 0, 0, 0, 9]);

    #[test]
    fn advertisements_without_override_do_not_replace_an_address() {
        let mut c = NeighCache::new(16);
        let other = MacAddr([2, 0, 0, 0, 0, 7]);
        // INCOMPLETE: any advertisement's address is recorded (§7.2.5).
        let Lookup::Park { .. } = c.lookup(k(1), 0) else {
            panic!("unknown neighbour parks")
        };
        c.learn(k(1), M, true, false, false, 1);
        assert_eq!(
            c.get(&k(1)).map(|e| (e.mac, e.state)),
            Some((M, State::Reachable))
        );
        // REACHABLE, O clear, another address: STALE, address kept.
        c.learn(k(1), other, true, false, false, 2);
        assert_eq!(
            c.get(&k(1)).map(|e| (e.mac, e.state)),
            Some((M, State::Stale))
        );
        // STALE, O clear, another address: ignored.
        c.learn(k(1), other, false, false, false, 3);
        assert_eq!(
            c.get(&k(1)).map(|e| (e.mac, e.state)),
            Some((M, State::Stale))
        );
        // O clear, same address, solicited: REACHABLE again.
        c.learn(k(1), M, true, false, false, 4);
        assert_eq!(c.get(&k(1)).map(|e| e.state), Some(State::Reachable));
        // O set: the new address replaces the old.
        c.learn(k(1), other, true, true, false, 5);
        assert_eq!(
            c.get(&k(1)).map(|e| (e.mac, e.state)),
            Some((other, State::Reachable))
        );
    }

    #[test]
    fn resolution_lifecycle() {
        let mut c = NeighCache::new(16);
        let Lookup::Park { token, probe: true } = c.lookup(k(1), 0) else {
            panic!()
        };
        assert_eq!(
            c.lookup(k(1), 1),
            Lookup::Park {
                token,
                probe: false
            }
        );
        assert_eq!(c.get(&k(1)).unwrap().parked, 2);
        // A hint from an unrelated host does not create entries…
        assert_eq!(c.learn(k(2), M, false, true, false, 2), None);
        assert!(c.get(&k(2)).is_none());
        // …but the reply completes the waiting one and releases its frames.
        assert_eq!(c.learn(k(1), M, true, true, false, 3), Some(token));
        assert_eq!(c.lookup(k(1), 4), Lookup::Hit(M));
        // After the reachable time it is used once more, then probed.
        assert_eq!(c.lookup(k(1), 3 + REACHABLE_TIME_NS), Lookup::Hit(M));
        assert_eq!(c.get(&k(1)).unwrap().state, State::Probe);
        let mut probes = Vec::new();
        let t0 = 3 + REACHABLE_TIME_NS + DELAY_NS;
        for s in 0..5u64 {
            c.tick(t0 + s * RETRANS_NS, 10, |t| probes.push(t));
        }
        assert_eq!(probes.len(), 3, "{probes:?}");
        assert!(c.get(&k(1)).is_none(), "no answer to the probes: removed");
    }

    #[test]
    fn unanswered_resolution_fails_and_frames_are_bounded() {
        let mut c = NeighCache::new(16);
        let Lookup::Park { token, .. } = c.lookup(k(5), 0) else {
            panic!()
        };
        for _ in 1..MAX_PARKED_PER_ENTRY {
            assert!(matches!(c.lookup(k(5), 0), Lookup::Park { .. }));
        }
        assert_eq!(c.lookup(k(5), 0), Lookup::QueueFull);
        let mut ev = Vec::new();
        for s in 1..=4u64 {
            c.tick(s * RETRANS_NS, 10, |t| ev.push(t));
        }
        assert_eq!(
            ev.iter()
                .filter(|t| matches!(t, Timer::Retransmit(_)))
                .count(),
            2
        );
        assert_eq!(ev.last(), Some(&Timer::Failed(k(5), token)));
        assert!(c.is_empty());
    }

    #[test]
    fn bounded_table_evicts_only_stale_and_deletes_cleanly() {
        let mut c = NeighCache::new(8);
        for i in 0..8 {
            c.learn(k(i), M, false, true, true, i as u64);
        }
        assert_eq!(c.len(), 8);
        // Full of stale entries: the oldest goes to make room.
        assert!(matches!(c.lookup(k(100), 50), Lookup::Park { .. }));
        assert!(c.get(&k(0)).is_none());
        // Remove everything in a scrambled order; lookups stay right.
        for i in [3u32, 7, 1, 100, 5, 2, 6, 4] {
            assert!(c.remove(&k(i)).is_some(), "{i}");
            for j in 0..8u32 {
                if let Some(e) = c.get(&k(j)) {
                    assert_eq!(e.key, k(j));
                }
            }
        }
        assert!(c.is_empty());
        assert!(c.add_static(k(9), M));
        assert_eq!(c.learn(k(9), MacAddr([2; 6]), true, true, true, 0), None);
        assert_eq!(
            c.lookup(k(9), 0),
            Lookup::Hit(M),
            "static entries never change"
        );
    }

    #[test]
    fn bus_delivers_to_others_only() {
        let bus = NeighborBus::new(3);
        bus.publish(
            1,
            Learned {
                key: k(1),
                mac: M,
                confirmed: true,
                overrides: true,
                create: true,
            },
        );
        assert!(bus.take(1).is_none());
        assert!(bus.take(0).is_some());
        assert!(bus.take(2).is_some());
        assert!(bus.take(7).is_none());
    }
}
