//! Why a package is in a resolved tree (what `cargo tree -i`, `npm explain` and
//! `pnpm why` answer): the resolution of [`super::resolve`], then every chain of
//! requirements from a requested one down to the package, shortest first, with the
//! versions and markers of each edge.
//!
//! A dependency graph can have exponentially many chains (a lattice of 30 layers two
//! wide has 2^30), so chains are never walked one by one to count them: the count is a
//! sum over the graph in topological order (saturating), and only the first
//! [`MAX_CHAINS`] are listed, found by a best-first search whose estimate (the exact
//! distance to the package) makes every popped path extend to a listed chain, each
//! popped path pushing at most two (its first extension, its next sibling). Work is
//! linear in the graph plus `MAX_CHAINS` times the longest chain.
//!
//! Cycles: a chain never visits a package twice. The graph is made acyclic by leaving
//! out the edges that close a cycle in a depth-first walk from the requested packages;
//! when such an edge could start a chain of its own (its end reaches the package and its
//! start is reached without it), the count says it is a lower bound.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::str::FromStr;

use pep508_rs::PackageName as ReqName;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::resolve::{Solved, resolve_solved};
use super::{Question, Walker};
use sentinel_core::model::{PackageName, Provenance, QueryError, SourceLabel};
use sentinel_core::resolver::{
    Edge, MetaState, MissingNode, Resolution, ResolutionStatus, ResolveRequest, Validated, edges,
};
use sentinel_core::views::deps::TargetEnv;

/// Most chains listed; the rest are counted.
pub const MAX_CHAINS: usize = 50;

/// Edges closing a cycle (towards the package) checked one by one for whether they
/// could start chains of their own; past it, the count is said to be a lower bound.
const MAX_CYCLE_CHECKS: usize = 64;

/// Whether and how the package is in the resolved tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// In the tree: `chains` says how it enters.
    InTree,
    /// Not in the tree: requirements name it, but their markers exclude the target
    /// (`excluded` lists them).
    ExcludedByMarkers,
    /// Not in the tree: nothing in the resolved tree requires it.
    NotInTree,
    /// Needed, but it could not be fetched (the resolution is partial; `missing`).
    CouldNotBeFetched,
    /// Not known: the resolution is partial and what could not be fetched may require
    /// it, or it has no solution or stopped at a bound.
    Unknown,
}

/// One edge of a chain: who requires whom, with which requirement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChainStep {
    /// The requiring package; none when the requirement is one of those requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The version of `from` in the tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_version: Option<String>,
    /// The required package.
    pub to: String,
    /// The version of `to` in the tree.
    pub to_version: String,
    /// The requirement in words: `sg-web[cli] 1.1.0 requires sg-cli>=1 ; extra == 'cli'`.
    pub requirement: String,
    /// Its environment marker, when it has one (it holds for the target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    /// Where the requirement was read: the metadata of `from` (live, cached, stale...);
    /// none for a requested one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
}

/// A requirement naming the package whose markers exclude the target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExcludedRequirement {
    /// The requirement in words: `sg-web 1.1.0 requires sg-tomli>=2 ; python_version < '3.11'`.
    pub requirement: String,
    /// Its marker (false for the target, or an extra not asked for).
    pub marker: String,
}

/// Why a package is (or is not) in the resolved tree of some requirements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Explanation {
    /// The package asked about, normalised.
    pub package: String,
    /// Its version in the tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Whether and how it is in the tree.
    pub presence: Presence,
    /// The answer in one sentence.
    pub summary: String,
    /// Chains from a requested requirement down to the package, shortest first (at most
    /// 50): each a list of steps.
    pub chains: Vec<Vec<ChainStep>>,
    /// How many chains there are in all (at least this many when `total_is_lower_bound`).
    pub total_chains: u64,
    /// Whether `total_chains` is only a lower bound (too many to count, or a cycle may
    /// add chains; the notes say which).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub total_is_lower_bound: bool,
    /// Chains counted but not listed (`total_chains` minus the listed ones).
    pub chains_left_out: u64,
    /// Requirements naming the package that the target's markers exclude.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<ExcludedRequirement>,
    /// The requirements, as given.
    pub requirements: Vec<String>,
    /// The environment markers were evaluated for.
    pub target: TargetEnv,
    /// How the resolution ended; with `partial`, chains through `missing` are not known.
    pub resolution: ResolutionStatus,
    /// Nodes the resolution could not fetch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<MissingNode>,
    /// With no solution: the conflict in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict: Option<String>,
    /// Where the metadata came from, overall (`live`, `cached`, `stale`, `mixed`).
    pub source: SourceLabel,
    /// The resolution's notes, and what was left out of the count.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Why a package is in the tree some requirements resolve to: every chain of
/// requirements from a requested one down to it, shortest first (at most
/// [`MAX_CHAINS`] listed, the rest counted), with the versions and markers of each
/// edge; or why it is not there (markers that exclude the target, nothing requiring
/// it, a node that could not be fetched). Ask it with
/// [`EngineHandle::ask`](crate::EngineHandle::ask).
#[derive(Debug, Clone)]
pub struct Explain {
    raw: ResolveRequest,
    checked: Validated,
    package: PackageName,
}

impl Explain {
    /// The question, its input checked: the requirements and target as for a
    /// resolution (vulnerabilities are not looked up), and the package's name.
    pub fn new(request: &ResolveRequest, package: &str) -> Result<Self, QueryError> {
        let mut raw = request.clone();
        raw.vulnerabilities = false;
        let checked = raw.validate()?;
        let package = PackageName::parse(package)?;
        Ok(Explain {
            raw,
            checked,
            package,
        })
    }
}

impl Question for Explain {
    type Answer = Explanation;

    async fn walk(self, w: &Walker, deadline: Instant) -> Result<Explanation, QueryError> {
        let (resolution, solved) = resolve_solved(w, &self.raw, &self.checked, deadline).await;
        let whole = deadline.saturating_duration_since(Instant::now());
        let (req, package) = (self.checked, self.package);
        // Linear in the graph, but the graph is an upstream's text: off the runtime.
        crate::cpu::pool()
            .run(deadline, move |_flag| {
                explain(&req, &package, resolution, solved.as_ref())
            })
            .await
            .map_err(|e| e.into_query_error(whole.as_millis() as u64, "the explanation failed"))
    }
}

/// The answer, from a resolution and (when it was solved) what it was solved from.
pub(crate) fn explain(
    req: &Validated,
    package: &PackageName,
    r: Resolution,
    solved: Option<&Solved>,
) -> Explanation {
    let target = ReqName::from_str(package.as_str()).ok();
    let version = r.package(package.as_str()).map(|p| p.version.clone());
    let mut notes = r.notes;
    let mut out = Explanation {
        package: package.to_string(),
        version,
        presence: Presence::Unknown,
        summary: String::new(),
        chains: Vec::new(),
        total_chains: 0,
        total_is_lower_bound: false,
        chains_left_out: 0,
        excluded: Vec::new(),
        requirements: r.requirements,
        target: r.target,
        resolution: r.status,
        missing: r.missing,
        conflict: r.conflict,
        source: r.source,
        notes: Vec::new(),
    };
    if let (Some(s), Some(t)) = (solved, &target) {
        out.excluded = excluded(req, s, t);
        if s.sol.versions.contains_key(t) {
            let graph = edges(&s.held, req, &s.sol);
            let found = chains(&graph, t, MAX_CHAINS);
            out.total_chains = found.total;
            out.total_is_lower_bound = found.saturated || !found.cycle_edges.is_empty();
            out.chains_left_out = found.total.saturating_sub(found.chains.len() as u64);
            if found.saturated {
                notes.push(format!("more than {} chains: too many to count", u64::MAX));
            }
            if !found.cycle_edges.is_empty() {
                let shown: Vec<&str> = found
                    .cycle_edges
                    .iter()
                    .take(10)
                    .map(|&i| graph[i].words.as_str())
                    .collect();
                let more = found.cycle_edges.len() - shown.len();
                notes.push(format!(
                    "chains that go round a cycle are not counted separately, so the count is a lower bound (edges closing a cycle: {}{})",
                    shown.join("; "),
                    if more > 0 { format!("; and {more} more") } else { String::new() }
                ));
            }
            out.chains = found
                .chains
                .iter()
                .map(|c| c.iter().map(|&i| step(s, &graph[i])).collect())
                .collect();
        }
    }
    let missing_self = out.missing.iter().find(|m| m.package == out.package);
    out.presence = match (out.resolution, &out.version, missing_self) {
        (ResolutionStatus::NoSolution | ResolutionStatus::Incomplete, _, _) => Presence::Unknown,
        (_, Some(_), _) => Presence::InTree,
        (_, None, Some(_)) => Presence::CouldNotBeFetched,
        (_, None, None) if !out.excluded.is_empty() => Presence::ExcludedByMarkers,
        (ResolutionStatus::Partial, None, None) => Presence::Unknown,
        (_, None, None) => Presence::NotInTree,
    };
    out.summary = summary(&out, missing_self);
    out.notes = notes;
    out
}

fn step(s: &Solved, e: &Edge) -> ChainStep {
    let version = |n: &ReqName| s.sol.versions.get(n).map(ToString::to_string);
    let provenance = e.from.as_ref().and_then(|n| {
        let v = s.sol.versions.get(n)?;
        match s.held.metas.get(&(n.clone(), v.clone())) {
            Some(MetaState::Held(m)) => Some(m.provenance.clone()),
            _ => None,
        }
    });
    ChainStep {
        from: e.from.as_ref().map(ToString::to_string),
        from_version: e.from.as_ref().and_then(version),
        to: e.to.to_string(),
        to_version: version(&e.to).unwrap_or_default(),
        requirement: e.words.clone(),
        marker: e.marker.clone(),
        provenance,
    }
}

/// Requirements of the request and of the chosen releases that name `t` under markers
/// false for the target (with the extras asked of the requiring release).
fn excluded(req: &Validated, s: &Solved, t: &ReqName) -> Vec<ExcludedRequirement> {
    let marker = |r: &pep508_rs::Requirement<pep508_rs::VerbatimUrl>| {
        r.marker
            .contents()
            .map(|c| c.to_string())
            .unwrap_or_default()
    };
    let mut out: Vec<ExcludedRequirement> = req
        .roots
        .iter()
        .filter(|r| &r.name == t && !r.marker.evaluate(&req.markers, &[]))
        .map(|r| ExcludedRequirement {
            requirement: format!("{r} (requested)"),
            marker: marker(r),
        })
        .collect();
    for (n, v) in &s.sol.versions {
        let Some(MetaState::Held(meta)) = s.held.metas.get(&(n.clone(), v.clone())) else {
            continue;
        };
        let extras: Vec<_> = s
            .sol
            .extras
            .get(n)
            .map(|e| e.iter().cloned().collect())
            .unwrap_or_default();
        for r in meta.requires.iter().filter(|r| &r.name == t) {
            if !r.marker.evaluate(&req.markers, &extras) {
                out.push(ExcludedRequirement {
                    requirement: format!("{n} {v} requires {r}"),
                    marker: marker(r),
                });
            }
        }
    }
    out
}

fn summary(x: &Explanation, missing_self: Option<&MissingNode>) -> String {
    let p = &x.package;
    let on = format!(
        "CPython {} on {:?}",
        x.target.python_full_version, x.target.platform
    );
    let partial = || {
        let names: Vec<&str> = x.missing.iter().map(|m| m.package.as_str()).collect();
        format!(
            "the resolution is partial: {} could not be fetched",
            names.join(", ")
        )
    };
    match x.presence {
        Presence::InTree => {
            let shortest = x.chains.first().map_or(0, Vec::len);
            let mut s = format!(
                "{p} {} is in the tree by {}{} chain{} (the shortest {shortest} step{})",
                x.version.as_deref().unwrap_or("?"),
                if x.total_is_lower_bound {
                    "at least "
                } else {
                    ""
                },
                x.total_chains,
                if x.total_chains == 1 { "" } else { "s" },
                if shortest == 1 { "" } else { "s" },
            );
            if x.chains_left_out > 0 {
                s.push_str(&format!(
                    "; {} listed, {} left out",
                    x.chains.len(),
                    x.chains_left_out
                ));
            }
            if x.resolution == ResolutionStatus::Partial {
                s.push_str(&format!(
                    "; {}, and chains through it are not known",
                    partial()
                ));
            }
            s
        }
        Presence::ExcludedByMarkers => {
            let mut s = format!(
                "{p} is not in the tree: the requirements on it have markers that exclude {on}: {}",
                x.excluded
                    .iter()
                    .map(|e| e.requirement.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            if x.resolution == ResolutionStatus::Partial {
                s.push_str(&format!("; {}, and may require it too", partial()));
            }
            s
        }
        Presence::NotInTree => format!(
            "{p} is not in the tree: nothing in the resolution of these requirements for {on} requires it"
        ),
        Presence::CouldNotBeFetched => format!(
            "{p} is required ({}) but could not be fetched ({}): {}",
            missing_self.map_or(String::new(), |m| m.required_by.join("; ")),
            missing_self.map_or("", |m| m.reason.as_str()),
            partial()
        ),
        Presence::Unknown => match x.resolution {
            ResolutionStatus::NoSolution => format!(
                "not known: the requirements have no solution for {on}, so there is no tree (see conflict)"
            ),
            ResolutionStatus::Incomplete => {
                "not known: the resolution stopped before it finished (see notes)".to_string()
            }
            _ => format!(
                "{p} is not in what was resolved, but {}, and may require it",
                partial()
            ),
        },
    }
}

/// The chains found: edge indices from a requested one to the package.
#[derive(Debug, Default)]
pub(crate) struct Found {
    pub(crate) chains: Vec<Vec<usize>>,
    pub(crate) total: u64,
    pub(crate) saturated: bool,
    /// Edges left out to make the graph acyclic that could start chains of their own.
    pub(crate) cycle_edges: Vec<usize>,
}

/// Every chain of `graph` from a requested edge (`from: None`) to `t`: the first `cap`
/// shortest first, and the count of all (see the module docs).
pub(crate) fn chains(graph: &[Edge], t: &ReqName, cap: usize) -> Found {
    let mut index: HashMap<&ReqName, usize> = HashMap::new();
    for e in graph {
        for n in e.from.iter().chain([&e.to]) {
            let next = index.len();
            index.entry(n).or_insert(next);
        }
    }
    let Some(&target) = index.get(t) else {
        return Found::default();
    };
    let n = index.len();
    let mut out_edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut roots = Vec::new();
    for (i, e) in graph.iter().enumerate() {
        match &e.from {
            Some(f) => out_edges[index[f]].push(i),
            None => roots.push(i),
        }
    }
    let to = |i: usize| index[&graph[i].to];
    let from = |i: usize| graph[i].from.as_ref().map(|f| index[f]);

    // Depth-first from the requested packages: the post-order, and the back edges.
    let mut state = vec![0u8; n]; // 0 unseen, 1 on the path, 2 done
    let mut post = Vec::with_capacity(n);
    let mut back = vec![false; graph.len()];
    for &r in &roots {
        let start = to(r);
        if state[start] != 0 {
            continue;
        }
        state[start] = 1;
        let mut stack = vec![(start, 0usize)];
        while let Some(top) = stack.last_mut() {
            let (u, k) = *top;
            if let Some(&e) = out_edges[u].get(k) {
                top.1 += 1;
                let v = to(e);
                match state[v] {
                    0 => {
                        state[v] = 1;
                        stack.push((v, 0));
                    }
                    1 => back[e] = true,
                    _ => {}
                }
            } else {
                state[u] = 2;
                post.push(u);
                stack.pop();
            }
        }
    }
    // The acyclic graph, and each node's distance to the target in it.
    let dag: Vec<Vec<usize>> = out_edges
        .iter()
        .map(|es| es.iter().copied().filter(|&e| !back[e]).collect())
        .collect();
    let mut into: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (u, es) in dag.iter().enumerate() {
        for &e in es {
            into[to(e)].push(u);
        }
    }
    let dist = bfs(target, &into);

    // Counts in post-order (every edge's end is done before its start).
    let mut count = vec![0u64; n];
    let mut saturated = false;
    for &u in &post {
        count[u] = if u == target {
            1
        } else {
            dag[u].iter().fold(0u64, |acc, &e| {
                let (s, o) = acc.overflowing_add(count[to(e)]);
                saturated |= o;
                if o { u64::MAX } else { s }
            })
        };
    }
    let total = roots.iter().fold(0u64, |acc, &e| {
        let (s, o) = acc.overflowing_add(count[to(e)]);
        saturated |= o;
        if o { u64::MAX } else { s }
    });

    // A left-out edge u -> v adds chains only when v reaches the target without u and
    // u is reached from a requested package without v.
    let mut cycle_edges = Vec::new();
    let backs: Vec<usize> = (0..graph.len()).filter(|&e| back[e]).collect();
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut succs: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (u, es) in out_edges.iter().enumerate() {
        for &e in es {
            preds[to(e)].push(u);
            succs[u].push(to(e));
        }
    }
    let starts: Vec<usize> = roots.iter().map(|&r| to(r)).collect();
    let reaches_target = bfs(target, &preds);
    let mut checked = 0;
    for &e in &backs {
        let (Some(u), v) = (from(e), to(e)) else {
            continue;
        };
        if reaches_target[v] == u32::MAX {
            continue;
        }
        checked += 1;
        if checked > MAX_CYCLE_CHECKS
            || (reaches_avoiding(v, &[target], u, &preds)
                && reaches_avoiding(u, &starts, v, &succs))
        {
            cycle_edges.push(e);
        }
    }

    // Best-first over the acyclic graph: the first `cap` chains, shortest first.
    let near = |es: &[usize]| {
        let mut es: Vec<usize> = es
            .iter()
            .copied()
            .filter(|&e| dist[to(e)] != u32::MAX)
            .collect();
        es.sort_by_key(|&e| dist[to(e)]);
        es
    };
    let next: Vec<Vec<usize>> = dag.iter().map(|es| near(es)).collect();
    let first = near(&roots);
    // An entry: the edge taken, its rank among its siblings, the entry before it, its length.
    struct Entry {
        edge: usize,
        rank: usize,
        parent: Option<usize>,
        len: u32,
    }
    let mut arena: Vec<Entry> = Vec::new();
    let mut heap = BinaryHeap::new();
    let push = |arena: &mut Vec<Entry>,
                heap: &mut BinaryHeap<Reverse<(u32, Reverse<u32>, usize)>>,
                edge: usize,
                rank: usize,
                parent: Option<usize>,
                len: u32| {
        let id = arena.len();
        arena.push(Entry {
            edge,
            rank,
            parent,
            len,
        });
        heap.push(Reverse((len + dist[to(edge)], Reverse(len), id)));
    };
    if let Some(&e) = first.first() {
        push(&mut arena, &mut heap, e, 0, None, 1);
    }
    let mut chains = Vec::new();
    while chains.len() < cap {
        let Some(Reverse((_, _, id))) = heap.pop() else {
            break;
        };
        let (edge, rank, parent, len) = {
            let x = &arena[id];
            (x.edge, x.rank, x.parent, x.len)
        };
        // The next sibling: the same path with the next edge out of the same place.
        let siblings = match parent {
            None => &first,
            Some(p) => &next[to(arena[p].edge)],
        };
        if let Some(&s) = siblings.get(rank + 1) {
            push(&mut arena, &mut heap, s, rank + 1, parent, len);
        }
        let at = to(edge);
        if at == target {
            let mut c = vec![edge];
            let mut p = parent;
            while let Some(i) = p {
                c.push(arena[i].edge);
                p = arena[i].parent;
            }
            c.reverse();
            chains.push(c);
        } else if let Some(&e) = next[at].first() {
            push(&mut arena, &mut heap, e, 0, Some(id), len + 1);
        }
    }
    Found {
        chains,
        total,
        saturated,
        cycle_edges,
    }
}

/// Distances (in edges) to `from` over `into` (the edges reversed).
fn bfs(from: usize, into: &[Vec<usize>]) -> Vec<u32> {
    let mut dist = vec![u32::MAX; into.len()];
    dist[from] = 0;
    let mut q = VecDeque::from([from]);
    while let Some(u) = q.pop_front() {
        for &p in &into[u] {
            if dist[p] == u32::MAX {
                dist[p] = dist[u] + 1;
                q.push_back(p);
            }
        }
    }
    dist
}

/// Whether `goal` is reached from any of `starts` along `adj` without passing `avoid`.
fn reaches_avoiding(goal: usize, starts: &[usize], avoid: usize, adj: &[Vec<usize>]) -> bool {
    let mut seen = vec![false; adj.len()];
    let mut q = VecDeque::new();
    for &s in starts {
        if s != avoid && !seen[s] {
            seen[s] = true;
            q.push_back(s);
        }
    }
    while let Some(u) = q.pop_front() {
        if u == goal {
            return true;
        }
        for &v in &adj[u] {
            if v != avoid && !seen[v] {
                seen[v] = true;
                q.push_back(v);
            }
        }
    }
    false
}
#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> ReqName {
        ReqName::from_str(s).unwrap()
    }

    /// Edges from `(from, to)` pairs; `""` is the request.
    fn graph(pairs: &[(&str, &str)]) -> Vec<Edge> {
        pairs
            .iter()
            .map(|(f, t)| Edge {
                from: (!f.is_empty()).then(|| name(f)),
                to: name(t),
                words: format!("{f}->{t}"),
                marker: None,
            })
            .collect()
    }

    fn words(g: &[Edge], f: &Found) -> Vec<String> {
        f.chains
            .iter()
            .map(|c| {
                c.iter()
                    .map(|&i| g[i].words.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    /// `layers` layers two wide between a top and a bottom: 2^layers chains.
    fn lattice(layers: usize) -> Vec<Edge> {
        let mut pairs: Vec<(String, String)> = vec![(String::new(), "top".into())];
        for side in ["a", "b"] {
            pairs.push(("top".into(), format!("l0{side}")));
            pairs.push((format!("l{}{side}", layers - 1), "bottom".into()));
        }
        for i in 0..layers - 1 {
            for s in ["a", "b"] {
                for d in ["a", "b"] {
                    pairs.push((format!("l{i}{s}"), format!("l{}{d}", i + 1)));
                }
            }
        }
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        graph(&pairs)
    }

    #[test]
    fn a_package_reached_two_ways_lists_both_shortest_first() {
        let g = graph(&[("", "a"), ("a", "b"), ("b", "c"), ("c", "t"), ("a", "t")]);
        let f = chains(&g, &name("t"), 50);
        assert_eq!(f.total, 2);
        assert_eq!(
            words(&g, &f),
            ["->a a->t", "->a a->b b->c c->t"],
            "shortest first"
        );
        assert!(!f.saturated && f.cycle_edges.is_empty());
    }

    #[test]
    fn a_cycle_behind_the_only_way_in_adds_no_chain_and_no_doubt() {
        // a <-> b, and b <-> t: every chain is simple, and the count is exact.
        let g = graph(&[("", "a"), ("a", "b"), ("b", "a"), ("b", "t"), ("t", "b")]);
        let f = chains(&g, &name("t"), 50);
        assert_eq!(words(&g, &f), ["->a a->b b->t"]);
        assert!(f.cycle_edges.is_empty(), "{:?}", f.cycle_edges);
    }

    #[test]
    fn a_cycle_that_could_start_another_chain_makes_the_count_a_lower_bound() {
        // a -> b, a -> c, b <-> c, both to t: a-c-b-t is a chain the acyclic walk loses.
        let g = graph(&[
            ("", "a"),
            ("a", "b"),
            ("a", "c"),
            ("b", "c"),
            ("c", "b"),
            ("b", "t"),
            ("c", "t"),
        ]);
        let f = chains(&g, &name("t"), 50);
        assert_eq!(f.total, 3);
        assert_eq!(f.cycle_edges.len(), 1, "the left-out edge is named");
    }

    #[test]
    fn a_lattice_of_two_to_the_thirty_chains_lists_fifty_and_counts_the_rest() {
        let g = lattice(30);
        let f = chains(&g, &name("bottom"), 50);
        assert_eq!(f.total, 1 << 30, "one of two in each of 30 layers");
        assert_eq!(f.chains.len(), 50);
        assert!(f.chains.iter().all(|c| c.len() == 32));
        let distinct: std::collections::HashSet<_> = f.chains.iter().collect();
        assert_eq!(distinct.len(), 50, "no chain listed twice");
    }

    #[test]
    fn a_lattice_of_a_thousand_packages_saturates_the_count_without_walking_it() {
        let g = lattice(500);
        let f = chains(&g, &name("bottom"), 50);
        assert!(f.saturated);
        assert_eq!(f.total, u64::MAX);
        assert_eq!(f.chains.len(), 50);
    }

    /// `cargo test -p sentinel-actors --release explain_cpu -- --ignored --nocapture`:
    /// the walk over hostile lattices (about 1,000 packages each).
    #[test]
    #[ignore = "a measurement, run by hand"]
    fn explain_cpu_on_hostile_lattices() {
        let dense = |width: usize, layers: usize| {
            let node = |i: usize, j: usize| format!("n{i}x{j}");
            let mut pairs = vec![(String::new(), "top".to_string())];
            for j in 0..width {
                pairs.push(("top".into(), node(0, j)));
                pairs.push((node(layers - 1, j), "bottom".into()));
                for i in 0..layers - 1 {
                    for k in 0..width {
                        pairs.push((node(i, j), node(i + 1, k)));
                    }
                }
            }
            let pairs: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            graph(&pairs)
        };
        for (label, g) in [
            ("2 wide x 500 layers", lattice(500)),
            ("10 wide x 100 layers", dense(10, 100)),
        ] {
            let started = std::time::Instant::now();
            let f = chains(&g, &name("bottom"), MAX_CHAINS);
            eprintln!(
                "{label}: {} edges, {} chains listed, saturated {}, {:?}",
                g.len(),
                f.chains.len(),
                f.saturated,
                started.elapsed()
            );
        }
    }

    #[test]
    fn a_package_no_edge_reaches_has_no_chain() {
        let g = graph(&[("", "a"), ("a", "b")]);
        let f = chains(&g, &name("zzz"), 50);
        assert_eq!((f.total, f.chains.len()), (0, 0));
        let f = chains(&g, &name("a"), 50);
        assert_eq!(words(&g, &f), ["->a"]);
    }
}
