//! # sentinel-core: pypi-sentinel's pure bottom
//!
//! Everything the engine (`sentinel-actors`) computes without a runtime, a network or
//! a database: validated names and versions, queries, provenance and typed errors,
//! the policies as pure state machines on an injected `now`, the parsers of upstream
//! documents and project files, and the views, the resolver and the README fitting
//! computed from them. This crate depends on no tokio, reqwest, ractor, rusqlite or moka,
//! so an import from here back up into the engine does not compile.
//!
//! ## Crate map
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`model`] | validated names and versions, queries, provenance, typed errors, limits, `untrusted` guards, calendar days, partial results |
//! | [`policy`] | pure state machines: retry/backoff, retry budget, breaker, rate limit, restart intensity, daily freshness, sliding window; time comes in as `now: std::time::Instant` |
//! | [`cancel`] | [`cancel::CancelFlag`], raised when a job's answer is no longer wanted |
//! | [`upstream`] | per-upstream `Accept` headers and tolerant parsers into documents; the one rule for which hosts a listed URL may be fetched from |
//! | [`project`] | a client's project files and lockfiles (requirements, pyproject, setup.cfg, uv/poetry/pdm locks), bounded |
//! | [`views`] | answers computed from documents: info, versions, deps, docs, Python, downloads, estimates, vulnerabilities, scan, check, the file a verified download picks |
//! | [`resolver`] | the resolution's request and answer, and the pubgrub provider over release metadata |
//! | [`audit`] | a project's audit: its scan, its resolution's vulnerabilities and its direct dependencies' checks, composed (above the views and the resolver it reads) |
//! | [`tags`] | PEP 425 wheel tags: which wheel a target installs |
//! | [`readme`] | a README rendered to Markdown, split into sections, fitted to a token budget |
//! | [`typo`] | the typo-squat rule: the popular name a package's name is a letter or two away from |
//! | [`words`] | numbers in words, shared by every answer's text |

#![deny(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod audit;
pub mod cancel;
pub mod model;
pub mod platform_tag;
pub mod policy;
pub mod project;
pub mod readme;
pub mod resolver;
pub mod series;
pub mod tags;
pub mod typo;
pub mod upstream;
pub mod views;
pub mod words;
