//! Answers computed from upstream documents: one cached project body answers package
//! info, versions, dependencies and Python compatibility; one daily series answers
//! trends, breakdowns and (when `recent` fails) estimates. Release metadata answers
//! resolutions ([`crate::resolver`]); per-release JSON answers vulnerabilities ([`vulns`])
//! and which file `download_package` fetches ([`package_download`], with the PEP 425
//! tags of [`crate::tags`]).

pub mod calibration;
pub mod check;
pub mod confusion;
pub mod deps;
pub mod docs;
pub mod downloads;
pub mod estimate;
pub mod info;
pub mod package_download;
pub mod python;
pub mod scan;
pub mod versions;
pub mod vulns;
// Numbers in words: a module of the crate, still `views::words` for the product.
pub use crate::words;
