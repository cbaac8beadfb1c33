//! Fast Leader Election, tested three ways: against ZooKeeper's own bytes and vote order, by
//! scripted scenarios (the worked examples), and by a seeded simulation of whole
//! ensembles over a lossy, reordering network.
//!
//! Golden fixtures in `tests/testdata/election/` come from `tests/golden/GoldenElection.java`
//! run against the ZooKeeper 3.8 jars (`tests/golden/generate_election.sh`).
//!
//! # What the simulation checks
//!
//! The simulation runs N election cores (3 to 5 voters, 0 to 2 observers) and a small model of
//! what ZAB does after an election (below), first through a chaotic phase (message loss, delays
//! longer than finalizeWait, reordering, partitions, crashes and restarts), then with the network
//! healed. After every tick it checks:
//!
//! - **Roles**: a LEADING server is a voter and its own leader; a FOLLOWING server is a voter
//!   following another voter; an OBSERVING server is an observer following a voter.
//! - **Honest votes**: every elected vote names a leader, a zxid and a peer epoch that the leader
//!   really had at some time (FLE never invents a candidate).
//! - **Leader completeness**: whenever a leader establishes its epoch, its last zxid is at least
//!   every zxid ever committed (written on a quorum). This is what ZAB needs from FLE: the winner's
//!   (peerEpoch, zxid, sid) is at least that of every member of a quorum, and quorums intersect.
//! - **One established leader**: at most one leader has a quorum of synced followers.
//! - **Liveness**: once the network heals (no loss, delays under finalizeWait, every server up),
//!   within `HEAL_TICKS_MAX` all servers agree on one established leader, and nothing changes for
//!   `STABLE_TICKS` after that.
//!
//! What it does **not** check, because FLE does not promise it: that two servers never decide
//! LEADING in the same round. With a vote delayed past finalizeWait, ZooKeeper's algorithm can end
//! a round with two self-declared leaders (`two_leaders_in_one_round_when_votes_are_lost` scripts
//! one); ZAB's epoch establishment, which needs a quorum of followers, is what leaves only one.
//! The simulation counts such rounds and prints the figure.
//!
//! The ZAB model: a LEADING server that has a quorum (itself included) of connected FOLLOWING
//! servers for `ESTABLISH_TICKS` establishes epoch max(acceptedEpoch)+1, and its followers take its
//! log (zxid) and epoch, and `update_election_vote` is called, as ZooKeeper's Leader and Learner do;
//! learners joining later sync the same way, unless they already accepted a higher epoch. An
//! established leader with a quorum sometimes writes a txn, which reaches a random subset of its
//! learners and is committed if a quorum has it. A leader without a quorum, or a learner without
//! an established leader it can sync with, goes back to LOOKING after `ZAB_TIMEOUT_TICKS`.
//!
//! Every notification crosses the simulated network as bytes (`wire::encode_notification` in a
//! frame, then `check_frame_len` and `decode_notification`), so the codec is exercised too.
//!
//! `SIM_SEED=<n>` replays one seed (printing its trace summary); `SIM_RUNS=<n>` sets how many
//! seeds run (default `SIM_RUNS_DEFAULT`). A failure prints the seed and the last events.

use rookery::election::fle::{Election, Output, Tick, Timing};
use rookery::election::vote::{supersedes, PeerState, Proposal, Vote, OBSERVER_INIT_ID};
use rookery::election::wire::{self, InitialMessage, Notification, WireError};
use rookery::ids::{ServerId, Zxid};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;

// ---------------------------------------------------------------------------------------------
// Golden bytes and the real vote order

fn fixture_text(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/election").join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run tests/golden/generate_election.sh)", path.display()))
}

fn fixture(name: &str) -> Vec<u8> {
    let s = fixture_text(&format!("{name}.hex"));
    let s = s.trim();
    assert!(s.len().is_multiple_of(2), "{name}: odd hex length");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit")).collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn note(state: PeerState, leader: ServerId, zxid: Zxid, round: i64, peer_epoch: i64, version: i32) -> Notification {
    Notification { state, leader, zxid, election_epoch: round, peer_epoch, version }
}

#[test]
fn golden_notifications_from_zookeeper() {
    use PeerState::*;
    let qv = fixture("QuorumVerifier");
    assert!(std::str::from_utf8(&qv).unwrap().ends_with("version=100000000"));
    let sent: [(&str, Notification, Vec<u8>); 3] = [
        ("NotificationV2Following", note(Following, 3, 0x0000_0005_0000_0007, 0x12, 5, 2), qv.clone()),
        ("NotificationV2Looking", note(Looking, OBSERVER_INIT_ID, i64::MIN, 1, i64::MIN, 2), Vec::new()),
        ("NotificationV2Leading", note(Leading, 0x0102_0304_0506_0708, -1, i64::MAX, 0, 2), b"x".to_vec()),
    ];
    for (name, n, config) in sent {
        let want = fixture(name);
        assert_eq!(hex(&wire::encode_notification(&n, &config)), hex(&want), "{name}: encoding differs from buildMsg");
        let got = wire::decode_notification(&want).unwrap();
        assert_eq!(got.notification, n, "{name}");
        assert_eq!(got.config, Some(config), "{name}");
    }
    // Older forms, decode only.
    let v1 = wire::decode_notification(&fixture("NotificationV1")).unwrap();
    assert_eq!(v1.notification, note(Observing, 2, 0x0000_0004_0000_0009, 7, 4, 0), "40 bytes: version read as 0");
    assert_eq!(v1.config, None);
    let old = wire::decode_notification(&fixture("Notification28")).unwrap();
    assert_eq!(old.notification, note(Looking, 2, 0x0000_0007_0000_0002, 9, 7, 0), "28 bytes: epoch from the zxid");
}

#[test]
fn golden_initial_messages_from_zookeeper() {
    let addr = |host: &str, port| wire::ElectionAddr { host: host.to_string(), port };
    let versioned =
        |protocol_version, sid, election_addrs| InitialMessage::Versioned { protocol_version, sid, election_addrs };
    let long_host = "h".repeat(2048 - ":3888".len());
    let accepted = [
        ("InitialMessageV1", versioned(wire::PROTOCOL_VERSION_V1, 2, vec![addr("127.0.0.1", 3888)])),
        ("InitialMessageV2", versioned(wire::PROTOCOL_VERSION_V2, 3, vec![addr("10.0.0.3", 3888), addr("::1", 3889)])),
        (
            "InitialMessageObserver",
            versioned(wire::PROTOCOL_VERSION_V1, wire::OBSERVER_ID, vec![addr("192.168.1.4", 3888)]),
        ),
        ("InitialMessageMaxLength", versioned(wire::PROTOCOL_VERSION_V1, 1, vec![addr(&long_host, 3888)])),
    ];
    for (name, want) in accepted {
        let bytes = fixture(name);
        assert_eq!(wire::decode_initial_message(&bytes).as_ref(), Ok(&want), "{name}");
        let InitialMessage::Versioned { protocol_version, sid, election_addrs } = &want else { unreachable!() };
        let ours = wire::encode_initial_message(*protocol_version, *sid, election_addrs).unwrap();
        assert_eq!(hex(&ours), hex(&bytes), "{name}: encoding differs from startConnection's");
    }
    assert_eq!(wire::decode_initial_message(&fixture("InitialMessageBareSid")), Ok(InitialMessage::BareSid(5)));
    let rejected = [
        ("RejectInitialMessageTooLong", WireError::BadAddressLength(2049)),
        ("RejectInitialMessageEmpty", WireError::BadAddressLength(0)),
        ("RejectInitialMessageNegative", WireError::BadAddressLength(-1)),
        ("RejectInitialMessageVersion", WireError::UnknownProtocolVersion(-65534)),
        ("RejectInitialMessageNoPort", WireError::BadAddress("127.0.0.1".into())),
        ("RejectInitialMessageBadPort", WireError::BadPort("x".into())),
        // ZooKeeper fails when one read() returns short; a stream reader here waits for the rest.
        ("RejectInitialMessageShort", WireError::Incomplete { needed: 34 }),
    ];
    for (name, want) in rejected {
        assert_eq!(wire::decode_initial_message(&fixture(name)), Err(want), "{name}");
    }
}

/// `totalOrderPredicate` of the real 3.8 jar over a grid of candidates, server 4 having weight 0.
#[test]
fn vote_order_matches_zookeepers_total_order_predicate() {
    let table = fixture_text("total_order.txt");
    let mut rows = 0;
    for line in table.lines() {
        let f: Vec<i64> = line.split(' ').map(|x| x.parse().unwrap()).collect();
        let new = Proposal { leader: f[0] as u64, zxid: f[1], peer_epoch: f[2] };
        let cur = Proposal { leader: f[3] as u64, zxid: f[4], peer_epoch: f[5] };
        let weight = if new.leader == 4 { 0 } else { 1 };
        assert_eq!(supersedes(&new, &cur, weight), f[6] == 1, "{line}");
        rows += 1;
    }
    assert!(rows > 1000, "the table has {rows} rows");
}

// ---------------------------------------------------------------------------------------------
// The simulated ensemble

/// A seeded xorshift64* generator: all randomness of a run comes from one of these.
struct SimRng(u64);

impl SimRng {
    fn new(seed: u64) -> SimRng {
        // splitmix64 once, so that small seeds give unrelated streams and the state is never 0.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        SimRng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0);
        self.next() % n
    }

    /// True with probability `per_mille` / 1000.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

/// 100 ms ticks: finalizeWait is 2 ticks, the notification backoff runs from 2 to 600 ticks.
const TICK_MS: u64 = 100;
/// Ticks a leader needs a quorum of followers before its epoch is established (NEWEPOCH..NEWLEADER).
const ESTABLISH_TICKS: u64 = 2;
/// Ticks a leader without a quorum, or a learner without a usable leader, keeps its role
/// (ZooKeeper's initLimit/syncLimit, scaled down).
const ZAB_TIMEOUT_TICKS: u64 = 30;
/// Ticks of chaos per run.
const CHAOS_TICKS: Tick = 1_500;
/// The bound on convergence after healing: four backoff maxima cover a server that backed off to
/// 60 s just before the heal, plus the elections and ZAB timeouts that settle a split.
const HEAL_TICKS_MAX: Tick = 4 * 600 + 20 * ZAB_TIMEOUT_TICKS;
/// Ticks the ensemble must stay unchanged once converged.
const STABLE_TICKS: Tick = 700;
/// Seeds run by default; each takes a few milliseconds.
const SIM_RUNS_DEFAULT: u64 = 150;
/// Deliveries handled within one tick before the run is declared a message storm.
const DELIVERIES_PER_TICK_MAX: usize = 100_000;
/// Events kept for the failure report.
const TRACE_MAX: usize = 60;

/// The QuorumVerifier text every simulated server sends along (and checks on receipt).
const CONFIG: &[u8] = b"server.1=127.0.0.1:2888:3888:participant\nversion=0";

/// A server as the ZAB model sees it after an election.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// LOOKING, or down.
    None,
    /// LEADING: `established` once a quorum followed for `ESTABLISH_TICKS`.
    Leading { supported_ticks: u64, lonely_ticks: u64, established: Option<i64> },
    /// FOLLOWING or OBSERVING `leader`; `synced` is the epoch it synced into.
    Learning { leader: ServerId, unhappy_ticks: u64, synced: Option<i64> },
}

struct Node {
    core: Option<Election>,
    /// Persistent state, kept across crashes.
    zxid: Zxid,
    epoch_current: i64,
    epoch_accepted: i64,
    /// Every zxid and current epoch this server ever had, for the honest-votes check.
    zxids_had: BTreeSet<Zxid>,
    epochs_had: BTreeSet<i64>,
    role: Role,
}

impl Node {
    fn set_data(&mut self, zxid: Zxid, epoch: i64) {
        self.zxid = zxid;
        self.epoch_current = epoch;
        self.epoch_accepted = self.epoch_accepted.max(epoch);
        self.zxids_had.insert(zxid);
        self.epochs_had.insert(epoch);
    }

    fn state(&self) -> Option<PeerState> {
        self.core.as_ref().map(|c| c.peer_state())
    }
}

/// One encoded election frame on its way.
struct Msg {
    from: ServerId,
    to: ServerId,
    frame: Vec<u8>,
}

#[derive(Default, Debug)]
struct Stats {
    elected: u64,
    established: u64,
    commits: u64,
    crashes: u64,
    /// Rounds in which two different servers decided LEADING.
    rounds_with_two_leaders: u64,
    messages: u64,
    /// The longest time from healing to agreement, against `HEAL_TICKS_MAX`.
    heal_ticks_max: Tick,
}

struct World {
    seed: u64,
    rng: SimRng,
    timing: Timing,
    voters: BTreeSet<ServerId>,
    observers: BTreeSet<ServerId>,
    nodes: BTreeMap<ServerId, Node>,
    now: Tick,
    /// In flight, by (due tick, order key): a random key reorders messages due in the same tick.
    in_flight: BTreeMap<(Tick, u64), Msg>,
    sequence: u64,
    loss_per_mille: u64,
    delay_min: Tick,
    delay_max: Tick,
    reorder: bool,
    /// Cut links, as (lower id, higher id).
    cut: BTreeSet<(ServerId, ServerId)>,
    /// Whether the ZAB model runs (scripts drive roles themselves).
    zab: bool,
    committed_max: Zxid,
    /// Servers that decided LEADING, by round.
    leaders_by_round: BTreeMap<i64, BTreeSet<ServerId>>,
    stats: Stats,
    trace: VecDeque<String>,
}

/// A node's data as `(id, zxid, currentEpoch)`.
type Data = (ServerId, Zxid, i64);

impl World {
    fn new(seed: u64, voters: &[Data], observers: &[Data], zab: bool) -> World {
        let mut nodes = BTreeMap::new();
        for &(id, zxid, epoch) in voters.iter().chain(observers) {
            let mut node = Node {
                core: None,
                zxid,
                epoch_current: epoch,
                epoch_accepted: epoch,
                zxids_had: BTreeSet::new(),
                epochs_had: BTreeSet::new(),
                role: Role::None,
            };
            node.set_data(zxid, epoch);
            nodes.insert(id, node);
        }
        World {
            seed,
            rng: SimRng::new(seed),
            timing: Timing::from_tick_ms(TICK_MS),
            voters: voters.iter().map(|d| d.0).collect(),
            observers: observers.iter().map(|d| d.0).collect(),
            nodes,
            now: 0,
            in_flight: BTreeMap::new(),
            sequence: 0,
            loss_per_mille: 0,
            delay_min: 0,
            delay_max: 0,
            reorder: false,
            cut: BTreeSet::new(),
            zab,
            committed_max: 0,
            leaders_by_round: BTreeMap::new(),
            stats: Stats::default(),
            trace: VecDeque::new(),
        }
    }

    fn event(&mut self, text: String) {
        if self.trace.len() == TRACE_MAX {
            self.trace.pop_front();
        }
        self.trace.push_back(format!("t={} {text}", self.now));
    }

    /// Fails the run, naming the property and the seed that replays it.
    fn violated(&self, property: &str, detail: String) -> ! {
        let trace: Vec<&str> = self.trace.iter().map(|s| s.as_str()).collect();
        panic!(
            "{property} violated at tick {} (replay with SIM_SEED={}): {detail}\nlast events:\n  {}",
            self.now,
            self.seed,
            trace.join("\n  ")
        );
    }

    fn linked(&self, a: ServerId, b: ServerId) -> bool {
        !self.cut.contains(&(a.min(b), a.max(b)))
    }

    fn is_up(&self, id: ServerId) -> bool {
        self.nodes[&id].core.is_some()
    }

    fn state_of(&self, id: ServerId) -> Option<(PeerState, ServerId)> {
        self.nodes[&id].core.as_ref().map(|c| (c.peer_state(), c.current_vote().leader))
    }

    /// Boots server `id` from its persisted data and starts its first election.
    fn start(&mut self, id: ServerId) {
        assert!(!self.is_up(id), "server {id} is already up");
        let node = &self.nodes[&id];
        let (zxid, epoch) = (node.zxid, node.epoch_current);
        let mut core = Election::new(id, self.voters.clone(), self.observers.clone(), zxid, epoch, self.timing);
        core.on_tick(self.now);
        let out = core.start_looking(zxid, epoch);
        let node = self.nodes.get_mut(&id).unwrap();
        node.core = Some(core);
        node.role = Role::None;
        self.event(format!("start {id} (zxid {zxid:#x}, epoch {epoch})"));
        self.handle(id, out);
    }

    fn crash(&mut self, id: ServerId) {
        let node = self.nodes.get_mut(&id).unwrap();
        node.core = None;
        node.role = Role::None;
        self.stats.crashes += 1;
        self.event(format!("crash {id}"));
    }

    /// The server's ZAB role ended: back to LOOKING with its current data.
    fn look_again(&mut self, id: ServerId) {
        let node = self.nodes.get_mut(&id).unwrap();
        node.role = Role::None;
        let (zxid, epoch) = (node.zxid, node.epoch_current);
        let out = node.core.as_mut().expect("up").start_looking(zxid, epoch);
        self.event(format!("{id} looks again (zxid {zxid:#x}, epoch {epoch})"));
        self.handle(id, out);
    }

    /// Carries out a core's outputs.
    fn handle(&mut self, id: ServerId, out: Vec<Output>) {
        for o in out {
            match o {
                Output::Send { to, notification } => self.send(id, to, notification),
                Output::Elected { vote, state } => self.on_elected(id, vote, state),
            }
        }
    }

    fn send(&mut self, from: ServerId, to: ServerId, n: Notification) {
        assert_ne!(from, to, "the core loops its own notification back itself");
        self.stats.messages += 1;
        if !self.linked(from, to) || self.rng.chance(self.loss_per_mille) {
            return;
        }
        let span = self.delay_max - self.delay_min + 1;
        let due = self.now + self.delay_min + self.rng.below(span);
        let key = if self.reorder { self.rng.next() } else { self.sequence };
        self.sequence += 1;
        let frame = wire::frame(&wire::encode_notification(&n, CONFIG));
        self.in_flight.insert((due, key), Msg { from, to, frame });
    }

    /// Delivers every message due by now, including those sent while delivering.
    fn deliver_due(&mut self) {
        let mut delivered = 0;
        while let Some(entry) = self.in_flight.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let msg = entry.remove();
            delivered += 1;
            if delivered > DELIVERIES_PER_TICK_MAX {
                self.violated("bounded deliveries", "message storm within one tick".into());
            }
            if !self.is_up(msg.to) || !self.linked(msg.from, msg.to) {
                continue;
            }
            let len = i32::from_be_bytes(msg.frame[..4].try_into().unwrap());
            let len = wire::check_frame_len(len).expect("our frames are well formed");
            let decoded = wire::decode_notification(&msg.frame[4..4 + len]).expect("our notifications decode");
            assert_eq!(decoded.config.as_deref(), Some(CONFIG));
            let out = self
                .nodes
                .get_mut(&msg.to)
                .unwrap()
                .core
                .as_mut()
                .unwrap()
                .on_notification(msg.from, decoded.notification);
            self.handle(msg.to, out);
        }
    }

    /// Checks an election's outcome and hands the server its ZAB role.
    fn on_elected(&mut self, id: ServerId, vote: Vote, state: PeerState) {
        self.stats.elected += 1;
        self.event(format!(
            "{id} elected: {state:?} under {} (round {}, zxid {:#x}, epoch {})",
            vote.leader, vote.election_epoch, vote.zxid, vote.peer_epoch
        ));
        let leader = &self.nodes[&vote.leader];
        if !leader.zxids_had.contains(&vote.zxid) || !leader.epochs_had.contains(&vote.peer_epoch) {
            self.violated("honest votes", format!("{id} elected {vote:?}, which {} never had", vote.leader));
        }
        if state == PeerState::Leading {
            let leaders = self.leaders_by_round.entry(vote.election_epoch).or_default();
            leaders.insert(id);
            if leaders.len() == 2 {
                self.stats.rounds_with_two_leaders += 1;
            }
        }
        self.nodes.get_mut(&id).unwrap().role = match state {
            PeerState::Leading => Role::Leading { supported_ticks: 0, lonely_ticks: 0, established: None },
            _ => Role::Learning { leader: vote.leader, unhappy_ticks: 0, synced: None },
        };
        self.check_roles();
    }

    fn check_roles(&self) {
        for (&id, node) in &self.nodes {
            let Some(core) = &node.core else { continue };
            let leader = core.current_vote().leader;
            let ok = match core.peer_state() {
                PeerState::Looking => true,
                PeerState::Leading => self.voters.contains(&id) && leader == id,
                PeerState::Following => self.voters.contains(&id) && leader != id && self.voters.contains(&leader),
                PeerState::Observing => self.observers.contains(&id) && self.voters.contains(&leader),
            };
            if !ok {
                self.violated("roles", format!("server {id} is {:?} under {leader}", core.peer_state()));
            }
        }
    }

    /// One tick: deliveries, the cores' timers, deliveries they caused, then the ZAB model.
    fn tick(&mut self) {
        self.now += 1;
        self.deliver_due();
        let ids: Vec<ServerId> = self.nodes.keys().copied().collect();
        for &id in &ids {
            let now = self.now;
            let Some(core) = self.nodes.get_mut(&id).unwrap().core.as_mut() else { continue };
            let out = core.on_tick(now);
            self.handle(id, out);
        }
        self.deliver_due();
        if self.zab {
            for &id in &ids {
                self.zab_step(id);
            }
            self.check_one_established_leader();
        }
        self.check_roles();
    }

    fn run(&mut self, ticks: Tick) {
        for _ in 0..ticks {
            self.tick();
        }
    }

    /// The learners that `leader` could use now: connected, following it, and able to join its
    /// epoch. Observers are listed separately: they never count towards a quorum.
    fn supporters(&self, leader: ServerId, epoch: Option<i64>) -> (Vec<ServerId>, Vec<ServerId>) {
        let mut voters = Vec::new();
        let mut observers = Vec::new();
        for (&id, node) in &self.nodes {
            let Role::Learning { leader: l, .. } = node.role else { continue };
            let usable = l == leader
                && node.core.is_some()
                && self.linked(id, leader)
                && epoch.is_none_or(|e| node.epoch_accepted <= e);
            if usable {
                if self.voters.contains(&id) {
                    voters.push(id)
                } else {
                    observers.push(id)
                }
            }
        }
        (voters, observers)
    }

    fn zab_step(&mut self, id: ServerId) {
        if !self.is_up(id) {
            return;
        }
        match self.nodes[&id].role {
            Role::None => {}
            Role::Leading { supported_ticks, lonely_ticks, established } => {
                let (followers, observers) = self.supporters(id, established);
                let quorum = followers.len() + 1 > self.voters.len() / 2;
                let (mut supported_ticks, mut lonely_ticks) = (supported_ticks, lonely_ticks);
                if quorum {
                    lonely_ticks = 0;
                    supported_ticks += 1;
                } else {
                    lonely_ticks += 1;
                    supported_ticks = 0;
                }
                self.nodes.get_mut(&id).unwrap().role = Role::Leading { supported_ticks, lonely_ticks, established };
                if lonely_ticks >= ZAB_TIMEOUT_TICKS {
                    self.event(format!("{id} stops leading: no quorum"));
                    self.look_again(id);
                    return;
                }
                match established {
                    None if quorum && supported_ticks >= ESTABLISH_TICKS => self.establish(id, &followers, &observers),
                    Some(epoch) if quorum => {
                        for &l in followers.iter().chain(&observers) {
                            self.sync(l, id, epoch);
                        }
                        if self.rng.chance(50) {
                            self.write(id, epoch, &followers, &observers);
                        }
                    }
                    _ => {}
                }
            }
            Role::Learning { leader, unhappy_ticks, synced } => {
                let leader_epoch = match self.nodes[&leader].role {
                    Role::Leading { established: Some(e), .. } if self.is_up(leader) => Some(e),
                    _ => None,
                };
                let usable = leader_epoch.filter(|&e| self.linked(id, leader) && self.nodes[&id].epoch_accepted <= e);
                let unhappy_ticks = if usable.is_some() { 0 } else { unhappy_ticks + 1 };
                self.nodes.get_mut(&id).unwrap().role = Role::Learning { leader, unhappy_ticks, synced };
                if unhappy_ticks >= ZAB_TIMEOUT_TICKS {
                    self.event(format!("{id} stops following {leader}"));
                    self.look_again(id);
                }
            }
        }
    }

    /// The leader establishes a new epoch with its quorum, and they take its log.
    fn establish(&mut self, leader: ServerId, followers: &[ServerId], observers: &[ServerId]) {
        let epoch = followers
            .iter()
            .chain(observers)
            .chain(std::iter::once(&leader))
            .map(|id| self.nodes[id].epoch_accepted)
            .max()
            .unwrap()
            + 1;
        let zxid = self.nodes[&leader].zxid;
        if zxid < self.committed_max {
            self.violated(
                "leader completeness",
                format!("{leader} establishes epoch {epoch} with zxid {zxid:#x} < committed {:#x}", self.committed_max),
            );
        }
        self.stats.established += 1;
        self.event(format!("{leader} establishes epoch {epoch} with {followers:?} (zxid {zxid:#x})"));
        let node = self.nodes.get_mut(&leader).unwrap();
        node.set_data(zxid, epoch);
        node.core.as_mut().unwrap().update_election_vote(epoch);
        if let Role::Leading { supported_ticks, lonely_ticks, .. } = node.role {
            node.role = Role::Leading { supported_ticks, lonely_ticks, established: Some(epoch) };
        }
        for &l in followers.iter().chain(observers) {
            self.sync(l, leader, epoch);
        }
    }

    /// A learner takes the leader's log and epoch (DIFF/SNAP/TRUNC, then NEWLEADER).
    fn sync(&mut self, learner: ServerId, leader: ServerId, epoch: i64) {
        let zxid = self.nodes[&leader].zxid;
        let node = self.nodes.get_mut(&learner).unwrap();
        let Role::Learning { unhappy_ticks, synced, .. } = node.role else { unreachable!("a learner") };
        if synced == Some(epoch) {
            return;
        }
        node.set_data(zxid, epoch);
        node.core.as_mut().unwrap().update_election_vote(epoch);
        node.role = Role::Learning { leader, unhappy_ticks, synced: Some(epoch) };
    }

    fn write(&mut self, leader: ServerId, epoch: i64, followers: &[ServerId], observers: &[ServerId]) {
        let old = self.nodes[&leader].zxid;
        let zxid = if old >> 32 == epoch { old + 1 } else { epoch << 32 | 1 };
        let data_epoch = self.nodes[&leader].epoch_current;
        self.nodes.get_mut(&leader).unwrap().set_data(zxid, data_epoch);
        let mut acks = 1;
        for &l in followers.iter().chain(observers) {
            if self.rng.chance(700) {
                let node = self.nodes.get_mut(&l).unwrap();
                let e = node.epoch_current;
                node.set_data(zxid, e);
                if self.voters.contains(&l) {
                    acks += 1;
                }
            }
        }
        if acks > self.voters.len() / 2 {
            self.committed_max = self.committed_max.max(zxid);
            self.stats.commits += 1;
        }
    }

    fn check_one_established_leader(&self) {
        let mut ruling = Vec::new();
        for (&id, node) in &self.nodes {
            if let Role::Leading { established: Some(e), .. } = node.role {
                if node.core.is_some() && self.supporters(id, Some(e)).0.len() + 1 > self.voters.len() / 2 {
                    ruling.push(id);
                }
            }
        }
        if ruling.len() > 1 {
            self.violated("one established leader", format!("{ruling:?} each have a quorum"));
        }
    }

    /// Every server up, one established leader, everyone else synced to it.
    fn converged(&self) -> Option<ServerId> {
        let leaders: Vec<ServerId> =
            self.nodes.iter().filter(|(_, n)| n.state() == Some(PeerState::Leading)).map(|(&id, _)| id).collect();
        let &[leader] = leaders.as_slice() else { return None };
        let Role::Leading { established: Some(epoch), .. } = self.nodes[&leader].role else { return None };
        let all_synced = self.nodes.iter().all(|(&id, n)| {
            id == leader || {
                let want = if self.voters.contains(&id) { PeerState::Following } else { PeerState::Observing };
                n.state() == Some(want) && n.role == Role::Learning { leader, unhappy_ticks: 0, synced: Some(epoch) }
            }
        });
        all_synced.then_some(leader)
    }

    fn trace_summary(&self) -> String {
        let states: Vec<String> = self
            .nodes
            .iter()
            .map(|(id, n)| match n.core.as_ref() {
                Some(c) => format!("{id}:{:?}->{}", c.peer_state(), c.current_vote().leader),
                None => format!("{id}:down"),
            })
            .collect();
        format!("{} {:?}", states.join(" "), self.stats)
    }
}

// ---------------------------------------------------------------------------------------------
// Scripted scenarios

const Z: Zxid = 0x0000_0001_0000_0005;

/// Ids 1..=n with the same data, in a world without the ZAB model and with an instant, reliable,
/// ordered network.
fn same_data(n: u64) -> Vec<Data> {
    (1..=n).map(|id| (id, Z, 1)).collect()
}

fn roles(w: &World, ids: &[ServerId]) -> Vec<Option<(PeerState, ServerId)>> {
    ids.iter().map(|&id| w.state_of(id)).collect()
}

/// Whom each (LOOKING) server currently proposes.
fn proposals(w: &World, ids: &[ServerId]) -> Vec<ServerId> {
    ids.iter().map(|id| w.nodes[id].core.as_ref().expect("up").proposal().leader).collect()
}

/// The first example: five servers with the same data started one by one.
#[test]
fn servers_started_one_by_one_elect_the_third_and_the_rest_follow_it() {
    use PeerState::*;
    let mut w = World::new(0, &same_data(5), &[], false);
    w.start(1);
    w.run(50);
    w.start(2);
    w.run(50);
    assert!(roles(&w, &[1, 2]).iter().all(|r| matches!(r, Some((Looking, _)))), "two of five are no majority");
    assert_eq!(proposals(&w, &[1, 2]), vec![2, 2], "1 has adopted 2's better vote");

    w.start(3);
    w.run(5);
    assert_eq!(roles(&w, &[1, 2, 3]), vec![Some((Following, 3)), Some((Following, 3)), Some((Leading, 3))]);

    // Later servers have higher ids but learn the leader from the settled servers' replies.
    w.start(4);
    w.run(5);
    assert_eq!(w.state_of(4), Some((Following, 3)));
    w.start(5);
    w.run(5);
    assert_eq!(w.state_of(5), Some((Following, 3)));
    assert_eq!(w.state_of(3), Some((Leading, 3)), "3 was not deposed");
    assert_eq!(w.leaders_by_round.values().map(|s| s.len()).sum::<usize>(), 1, "only one LEADING decision");
}

/// The second example: the leader is lost; the survivors look again, and the one with the
/// highest current epoch, then zxid, then id, wins.
#[test]
fn after_losing_the_leader_the_highest_epoch_then_zxid_then_id_wins() {
    use PeerState::*;
    let e4 = 0x0000_0004_0000_0000;
    let cases: &[(&str, [Data; 4], ServerId)] = &[
        (
            "same epoch: the highest zxid wins over higher ids",
            [(1, e4 | 9, 4), (2, e4 | 12, 4), (3, e4 | 7, 4), (4, e4 | 11, 4)],
            2,
        ),
        ("same epoch and zxid: the highest id", [(1, e4 | 9, 4), (2, e4 | 12, 4), (3, e4 | 12, 4), (4, e4 | 11, 4)], 3),
        (
            "a higher current epoch beats a higher zxid (ZOOKEEPER-1818: peerEpoch, not the zxid's epoch)",
            [(1, e4 | 3, 5), (2, e4 | 12, 4), (3, e4 | 12, 4), (4, e4 | 11, 4)],
            1,
        ),
    ];
    for (why, data, winner) in cases {
        // Five servers elect 5 (it has the highest data), then 5 is lost.
        let mut all = data.to_vec();
        all.push((5, 0x0000_0005_0000_0064, 5));
        let mut w = World::new(0, &all, &[], false);
        for id in 1..=5 {
            w.start(id);
        }
        w.run(10);
        assert_eq!(w.state_of(5), Some((Leading, 5)), "{why}: the first leader");
        w.crash(5);
        for id in 1..=4 {
            w.look_again(id);
        }
        w.run(10);
        let want: Vec<_> =
            (1..=4).map(|id| Some(if id == *winner { (Leading, *winner) } else { (Following, *winner) })).collect();
        assert_eq!(roles(&w, &[1, 2, 3, 4]), want, "{why}");
        assert!(w.nodes.values().filter_map(|n| n.core.as_ref()).all(|c| c.logical_clock() == 2), "{why}: round 2");
    }
}

/// A restarted follower rejoins the established leader even though its round restarts at 1 and
/// its data is older; the leader's vote carries the epoch it established (ZOOKEEPER-1732).
#[test]
fn a_restarted_follower_rejoins_the_established_leader() {
    use PeerState::*;
    let mut w = World::new(0, &same_data(3), &[], false);
    for id in 1..=3 {
        w.start(id);
    }
    w.run(5);
    assert_eq!(w.state_of(3), Some((Leading, 3)));
    // Two elections later, in round 3, everyone has moved to epoch 2.
    for _ in 0..2 {
        for id in 1..=3 {
            w.look_again(id);
        }
        w.run(5);
    }
    for id in 1..=3 {
        let node = w.nodes.get_mut(&id).unwrap();
        node.set_data(Z, 2);
        node.core.as_mut().unwrap().update_election_vote(2);
    }
    w.crash(1);
    w.start(1);
    w.run(5);
    assert_eq!(w.state_of(1), Some((Following, 3)));
    assert_eq!(w.nodes[&1].core.as_ref().unwrap().logical_clock(), 3, "round taken from the leader");
}

/// Observers learn the leader from the voters, and never win even with the best data.
#[test]
fn observers_follow_the_voters_choice() {
    use PeerState::*;
    let mut w = World::new(0, &same_data(3), &[(9, 0x0000_0009_0000_0000, 9)], false);
    w.start(9);
    w.run(3);
    for id in 1..=3 {
        w.start(id);
    }
    w.run(1_000);
    assert_eq!(
        roles(&w, &[1, 2, 3, 9]),
        vec![Some((Following, 3)), Some((Following, 3)), Some((Leading, 3)), Some((Observing, 3))]
    );
}

/// Nothing happens without a quorum, whatever the timers do; one more server ends it.
#[test]
fn a_minority_never_elects() {
    let mut w = World::new(0, &same_data(4), &[], false);
    w.start(1);
    w.start(4);
    w.run(5_000);
    assert!(
        roles(&w, &[1, 4]).iter().all(|r| matches!(r, Some((PeerState::Looking, _)))),
        "two of four is not a majority"
    );
    // 2's vote reaches 1 and 4, but they answer only a lagging round, and both have backed off to
    // 60 s. Worse, every re-send of 2's (after 2, 4, 8, ... ticks) restarts their wait, because
    // ZooKeeper's wait is a poll of the receive queue. So 2 learns of 4 only once 2's own backoff
    // has grown to the maximum and one of them re-sends: about two maximum intervals.
    w.start(2);
    let started = w.now;
    let max = w.timing.notification_interval_max_ticks;
    while w.state_of(4) != Some((PeerState::Leading, 4)) {
        assert!(w.now - started < 4 * max, "no leader {} ticks after the third server came", w.now - started);
        w.tick();
    }
    assert_eq!(roles(&w, &[1, 2]), vec![Some((PeerState::Following, 4)); 2]);
    let waited = w.now - started;
    assert!(waited > max, "took {waited} ticks: the newcomer's re-sends kept resetting the others' waits");
}

/// FLE alone allows two LEADING decisions in one round: here 3 wins round 1 with 1's and 2's votes,
/// which never reached each other, so neither 1 nor 2 decided; then 5 starts in round 1 and wins
/// 1 and 2 over. ZooKeeper behaves the same way; ZAB settles it, since only one of the two can
/// gather a quorum of followers for its epoch.
#[test]
fn two_leaders_in_one_round_when_votes_are_lost() {
    use PeerState::*;
    let mut w = World::new(0, &same_data(5), &[], false);
    w.cut.insert((1, 2));
    w.start(1);
    w.start(2);
    w.start(3);
    w.run(3);
    assert_eq!(w.state_of(3), Some((Leading, 3)));
    assert!(roles(&w, &[1, 2]).iter().all(|r| matches!(r, Some((Looking, _)))), "each saw only its own and 3's vote");
    assert_eq!(proposals(&w, &[1, 2]), vec![3, 3]);
    w.start(5);
    w.run(5);
    assert_eq!(w.state_of(5), Some((Leading, 5)));
    assert_eq!(w.state_of(3), Some((Leading, 3)));
    assert_eq!(w.leaders_by_round.get(&1), Some(&BTreeSet::from([3, 5])), "both decided in round 1");
}

// ---------------------------------------------------------------------------------------------
// Seeded simulation

/// A scenario drawn from the seed.
fn random_world(seed: u64) -> World {
    let mut rng = SimRng::new(seed ^ 0x5ce0_a210);
    let n_voters = 3 + rng.below(3);
    let n_observers = rng.below(3);
    // One history in one epoch: every voter has a prefix of it. Ties are frequent on purpose.
    let epoch = 1 + rng.below(3) as i64;
    let mut voters = Vec::new();
    for id in 1..=n_voters {
        voters.push((id, epoch << 32 | rng.below(4) as i64, epoch));
    }
    let observers: Vec<Data> = (0..n_observers).map(|i| (11 + i, epoch << 32, epoch)).collect();
    let mut w = World::new(seed, &voters, &observers, true);
    // Whatever a quorum holds counts as committed.
    let mut zxids: Vec<Zxid> = voters.iter().map(|d| d.1).collect();
    zxids.sort_unstable_by(|a, b| b.cmp(a));
    w.committed_max = zxids[n_voters as usize / 2];
    w.loss_per_mille = [0, 50, 200][rng.below(3) as usize];
    // Every hop takes at least a tick: an observer and a LOOKING voter answer each other for as
    // long as the voter looks (as in ZooKeeper), which must not happen in zero time.
    w.delay_min = 1;
    w.delay_max = [1, 2, 4, 10][rng.below(4) as usize];
    w.reorder = true;
    w
}

fn run_seed(seed: u64, verbose: bool) -> Stats {
    let mut w = random_world(seed);
    let ids: Vec<ServerId> = w.nodes.keys().copied().collect();
    // Servers come up in a random order over the first ticks.
    let mut pending = ids.clone();
    while !pending.is_empty() {
        let i = w.rng.below(pending.len() as u64) as usize;
        w.start(pending.remove(i));
        let gap = w.rng.below(5);
        w.run(gap);
    }
    // Chaos: crashes, restarts, partitions.
    for _ in 0..CHAOS_TICKS {
        let id = ids[w.rng.below(ids.len() as u64) as usize];
        if w.is_up(id) && w.rng.chance(3) {
            w.crash(id);
        } else if !w.is_up(id) && w.rng.chance(40) {
            w.start(id);
        }
        if w.rng.chance(8) {
            w.cut.clear();
            if w.rng.chance(700) {
                // Cut a random set of links, or isolate one server.
                let victim = ids[w.rng.below(ids.len() as u64) as usize];
                for &a in &ids {
                    for &b in &ids {
                        if a < b && (a == victim || b == victim || w.rng.chance(150)) {
                            w.cut.insert((a, b));
                        }
                    }
                }
            }
            w.event(format!("links cut: {:?}", w.cut));
        }
        w.tick();
    }
    // Heal: everyone up, nothing lost, every delay shorter than finalizeWait.
    w.cut.clear();
    w.loss_per_mille = 0;
    w.delay_max = 1;
    assert!(w.delay_max < w.timing.finalize_wait_ticks);
    w.event("healed".into());
    let healed_at = w.now;
    for &id in &ids {
        if !w.is_up(id) {
            w.start(id);
        }
    }
    let mut converged_at = None;
    for _ in 0..HEAL_TICKS_MAX {
        w.tick();
        if let Some(leader) = w.converged() {
            converged_at = Some((w.now, leader));
            break;
        }
    }
    let Some((at, leader)) = converged_at else {
        w.violated("liveness", format!("no agreement {HEAL_TICKS_MAX} ticks after healing: {}", w.trace_summary()))
    };
    w.stats.heal_ticks_max = at - healed_at;
    let elected_before = w.stats.elected;
    for _ in 0..STABLE_TICKS {
        w.tick();
        if w.converged() != Some(leader) || w.stats.elected != elected_before {
            w.violated("stability", format!("the ensemble under {leader} changed after converging at {at}"));
        }
    }
    if verbose {
        println!("seed {seed}: converged under {leader} at tick {at}; {}", w.trace_summary());
    }
    w.stats
}

#[test]
fn simulated_ensembles_elect_complete_leaders_and_converge() {
    let seeds: Vec<u64> = match std::env::var("SIM_SEED") {
        Ok(s) => vec![s.parse().expect("SIM_SEED is a number")],
        Err(_) => {
            let runs =
                std::env::var("SIM_RUNS").map(|s| s.parse().expect("SIM_RUNS is a number")).unwrap_or(SIM_RUNS_DEFAULT);
            (1..=runs).collect()
        }
    };
    let verbose = seeds.len() == 1;
    let mut total = Stats::default();
    for &seed in &seeds {
        let s = run_seed(seed, verbose);
        total.elected += s.elected;
        total.established += s.established;
        total.commits += s.commits;
        total.crashes += s.crashes;
        total.rounds_with_two_leaders += s.rounds_with_two_leaders;
        total.messages += s.messages;
        total.heal_ticks_max = total.heal_ticks_max.max(s.heal_ticks_max);
    }
    println!("{} seeds: {total:?}", seeds.len());
    assert!(total.established > 0 && total.commits > 0, "the runs did something: {total:?}");
}

/// With every server starting at once and every delay under finalizeWait, FLE elects the voter
/// with the highest (current epoch, zxid, id) of all, whatever the order of arrival.
#[test]
fn synchronous_start_elects_the_highest_voter() {
    for seed in 1..=300u64 {
        let mut rng = SimRng::new(seed);
        let n = 3 + rng.below(3);
        let data: Vec<Data> = (1..=n)
            .map(|id| {
                let epoch = 1 + rng.below(2) as i64;
                (id, (1 + rng.below(epoch as u64)) as i64 * (1 << 32) + rng.below(3) as i64, epoch)
            })
            .collect();
        let best = data.iter().max_by(|a, b| (a.2, a.1, a.0).cmp(&(b.2, b.1, b.0))).map(|d| d.0).unwrap();
        let mut w = World::new(seed, &data, &[], false);
        w.delay_min = 0;
        w.delay_max = 1;
        w.reorder = true;
        for id in 1..=n {
            w.start(id);
        }
        w.run(20);
        for id in 1..=n {
            let want = if id == best { PeerState::Leading } else { PeerState::Following };
            assert_eq!(w.state_of(id), Some((want, best)), "seed {seed}: {data:?}");
        }
    }
}
