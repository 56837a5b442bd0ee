//! Named fault sets ([`Scenario`]) for demos and the command line.

use std::fmt;
use std::str::FromStr;

use crate::fault::FaultSpec;

/// A named set of faults. Applying one replaces every current fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// No faults.
    Healthy,
    /// pypistats.org down: `502` on `/api/packages/**`.
    PypistatsOutage,
    /// 30 % of all requests (`/**`) answer `503`.
    Flaky,
    /// 50 % of `/api/packages/**` and `/pypi/**` answer `429` with `Retry-After: 1`.
    RateLimited,
    /// `/pypi/**` answers a redirect to itself, forever.
    RedirectLoop,
}

/// Error of [`Scenario::from_str`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown scenario {0:?} (expected one of: healthy, pypistats-outage, flaky, rate-limited, redirect-loop)"
)]
pub struct UnknownScenario(pub String);

impl Scenario {
    /// Every scenario, in documentation order.
    pub const ALL: [Scenario; 5] = [
        Scenario::Healthy,
        Scenario::PypistatsOutage,
        Scenario::Flaky,
        Scenario::RateLimited,
        Scenario::RedirectLoop,
    ];

    /// The command-line name (`healthy`, `pypistats-outage`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Healthy => "healthy",
            Scenario::PypistatsOutage => "pypistats-outage",
            Scenario::Flaky => "flaky",
            Scenario::RateLimited => "rate-limited",
            Scenario::RedirectLoop => "redirect-loop",
        }
    }

    /// The faults this scenario installs, in order.
    pub fn faults(self) -> Vec<FaultSpec> {
        match self {
            Scenario::Healthy => Vec::new(),
            Scenario::PypistatsOutage => vec![FaultSpec {
                status: Some(502),
                ..FaultSpec::on("/api/packages/**")
            }],
            Scenario::Flaky => vec![FaultSpec {
                status: Some(503),
                probability: Some(0.3),
                ..FaultSpec::on("/**")
            }],
            Scenario::RateLimited => ["/api/packages/**", "/pypi/**"]
                .into_iter()
                .map(|route| FaultSpec {
                    status: Some(429),
                    retry_after: Some(1),
                    probability: Some(0.5),
                    ..FaultSpec::on(route)
                })
                .collect(),
            Scenario::RedirectLoop => vec![FaultSpec {
                redirect_loop: true,
                ..FaultSpec::on("/pypi/**")
            }],
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = UnknownScenario;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scenario::ALL
            .into_iter()
            .find(|sc| sc.name() == s)
            .ok_or_else(|| UnknownScenario(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for s in Scenario::ALL {
            assert_eq!(s.to_string().parse::<Scenario>(), Ok(s));
        }
        assert!("bogus".parse::<Scenario>().is_err());
        assert!(Scenario::Healthy.faults().is_empty());
        assert_eq!(Scenario::RateLimited.faults().len(), 2);
        for s in Scenario::ALL {
            for f in s.faults() {
                f.validate().unwrap();
            }
        }
    }
}
