//! Answers computed from upstream documents: one cached project body answers package
//! info, versions, dependencies and Python compatibility; one daily series answers
//! trends, breakdowns and (when `recent` fails) estimates. Release metadata answers
//! resolutions ([`resolve`]); per-release JSON answers vulnerabilities ([`vulns`]) and
//! which file `download_package` fetches ([`package_download`], [`wheel_tags`]).

pub mod audit;
pub mod calibration;
pub mod check;
pub mod deps;
pub mod docs;
pub mod downloads;
pub mod estimate;
pub mod info;
pub mod package_download;
pub mod python;
pub mod resolve;
pub mod scan;
pub mod versions;
pub mod vulns;
pub mod wheel_tags;
pub mod words;
