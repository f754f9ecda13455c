//! Per-tenant ingestion rate limiting: a token bucket in bytes, refilled at the configured
//! rate up to the burst size, as Loki's local rate limit strategy.

use std::collections::HashMap;

use parking_lot::Mutex;
use vigil_model::TenantId;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last_refill_ns: i64,
}

/// Token buckets per tenant. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct RateLimiter {
    bytes_per_second: f64,
    burst_bytes: f64,
    buckets: Mutex<HashMap<TenantId, Bucket>>,
}

impl RateLimiter {
    /// A limiter allowing `bytes_per_second` sustained and `burst_bytes` at once, per tenant.
    /// A rate of 0 disables limiting.
    pub fn new(bytes_per_second: u64, burst_bytes: u64) -> Self {
        Self {
            bytes_per_second: bytes_per_second as f64,
            burst_bytes: burst_bytes.max(bytes_per_second) as f64,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The sustained rate in bytes per second (0 = unlimited).
    pub fn bytes_per_second(&self) -> u64 {
        self.bytes_per_second as u64
    }

    /// Takes `bytes` from the tenant's bucket at time `now_ns` when available and returns
    /// true; returns false and takes nothing when the bucket holds fewer tokens.
    pub fn try_take(&self, tenant: &TenantId, bytes: u64, now_ns: i64) -> bool {
        if self.bytes_per_second <= 0.0 {
            return true;
        }
        let mut buckets = self.buckets.lock();
        let bucket = buckets.entry(tenant.clone()).or_insert(Bucket {
            tokens: self.burst_bytes,
            last_refill_ns: now_ns,
        });
        let elapsed_seconds = (now_ns.saturating_sub(bucket.last_refill_ns)).max(0) as f64 / 1e9;
        bucket.tokens =
            (bucket.tokens + elapsed_seconds * self.bytes_per_second).min(self.burst_bytes);
        bucket.last_refill_ns = bucket.last_refill_ns.max(now_ns);
        let wanted = bytes as f64;
        if wanted > bucket.tokens {
            return false;
        }
        bucket.tokens -= wanted;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill_at_the_rate() {
        let tenant = TenantId::new("t").unwrap();
        let limiter = RateLimiter::new(100, 250);
        assert!(limiter.try_take(&tenant, 200, 0));
        assert!(!limiter.try_take(&tenant, 100, 0), "only 50 tokens left");
        assert!(limiter.try_take(&tenant, 50, 0));
        assert!(
            !limiter.try_take(&tenant, 60, 500_000_000),
            "half a second refills 50"
        );
        assert!(limiter.try_take(&tenant, 50, 500_000_000));
        assert!(
            limiter.try_take(&tenant, 250, 60_000_000_000),
            "refill caps at the burst"
        );
        assert!(!limiter.try_take(&tenant, 1, 60_000_000_000));
        let other = TenantId::new("u").unwrap();
        assert!(
            limiter.try_take(&other, 250, 60_000_000_000),
            "tenants have own buckets"
        );
        assert!(
            RateLimiter::new(0, 0).try_take(&tenant, u64::MAX, 0),
            "0 = unlimited"
        );
    }
}
