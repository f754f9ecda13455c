//! `ip("...")` matching: a single address, a CIDR block or an `a-b` range, IPv4 or IPv6.

use std::net::IpAddr;

/// A compiled `ip()` argument.
#[derive(Debug, Clone)]
pub(crate) struct IpMatcher {
    lo: IpAddr,
    hi: IpAddr,
}

fn parse_addr(s: &str) -> Result<IpAddr, String> {
    s.trim()
        .parse::<IpAddr>()
        .map_err(|_| format!("invalid ip address {s:?}"))
}

fn to_u128(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(v) => (false, u32::from(v) as u128),
        IpAddr::V6(v) => (true, u128::from(v)),
    }
}

impl IpMatcher {
    /// Parses `10.0.0.1`, `10.0.0.0/8`, `10.0.0.1-10.0.0.9` or the IPv6 equivalents.
    pub(crate) fn new(pattern: &str) -> Result<Self, String> {
        if let Some((a, b)) = pattern.split_once('-') {
            let (lo, hi) = (parse_addr(a)?, parse_addr(b)?);
            if lo.is_ipv4() != hi.is_ipv4() || to_u128(lo).1 > to_u128(hi).1 {
                return Err(format!("invalid ip range {pattern:?}"));
            }
            return Ok(Self { lo, hi });
        }
        if let Some((a, bits)) = pattern.split_once('/') {
            let base = parse_addr(a)?;
            let bits: u32 = bits
                .trim()
                .parse()
                .map_err(|_| format!("invalid cidr {pattern:?}"))?;
            let width = if base.is_ipv4() { 32 } else { 128 };
            if bits > width {
                return Err(format!("invalid cidr {pattern:?}"));
            }
            let (v6, v) = to_u128(base);
            let host_bits = width - bits;
            let mask: u128 = if host_bits >= 128 {
                u128::MAX
            } else {
                (1u128 << host_bits) - 1
            };
            let lo_v = v & !mask;
            let hi_v = lo_v | mask;
            let mk = |x: u128| -> IpAddr {
                if v6 {
                    IpAddr::V6(x.into())
                } else {
                    IpAddr::V4((x as u32).into())
                }
            };
            return Ok(Self {
                lo: mk(lo_v),
                hi: mk(hi_v),
            });
        }
        let ip = parse_addr(pattern)?;
        Ok(Self { lo: ip, hi: ip })
    }

    /// True when `value` (a whole label value) is an address inside the range.
    pub(crate) fn matches_value(&self, value: &str) -> bool {
        match value.trim().parse::<IpAddr>() {
            Ok(ip) => self.contains(ip),
            Err(_) => false,
        }
    }

    fn contains(&self, ip: IpAddr) -> bool {
        if ip.is_ipv4() != self.lo.is_ipv4() {
            return false;
        }
        let v = to_u128(ip).1;
        to_u128(self.lo).1 <= v && v <= to_u128(self.hi).1
    }

    /// True when any address-looking token of `line` is inside the range.
    pub(crate) fn matches_line(&self, line: &str) -> bool {
        line.split(|c: char| !(c.is_ascii_hexdigit() || c == '.' || c == ':'))
            .filter(|t| t.len() >= 2)
            .any(|t| {
                let trimmed = t.trim_matches(|c| c == '.' || c == ':');
                // `1.2.3.4:80`: an IPv4 address followed by a port.
                let no_port = match trimmed.rsplit_once(':') {
                    Some((host, _)) if host.contains('.') => host,
                    _ => trimmed,
                };
                [t, trimmed, no_port]
                    .iter()
                    .any(|t| t.parse::<IpAddr>().is_ok_and(|ip| self.contains(ip)))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let c = IpMatcher::new("192.168.0.0/16").unwrap();
        assert!(c.matches_value("192.168.4.5"));
        assert!(!c.matches_value("192.169.0.1"));
        assert!(c.matches_line("from 192.168.1.1: ok"));
        let r = IpMatcher::new("10.0.0.1-10.0.0.5").unwrap();
        assert!(r.matches_value("10.0.0.3"));
        assert!(!r.matches_value("10.0.0.6"));
        assert!(IpMatcher::new("::1").unwrap().matches_line("addr ::1 up"));
        assert!(IpMatcher::new("300.1.1.1").is_err());
    }
}
