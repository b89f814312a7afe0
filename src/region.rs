//! The gateway's memory of subscribers' regions: the last region a backend reported for each number, and
//! when. A region-scoped caller (a handler) may only be served once the subscriber's region is known; when
//! the backends that know it (the customer source) are down or shedding load, the remembered region
//! decides instead, and its age is said in the answer and the audit trail. Without one the call is an
//! outage (UNAVAILABLE, retryable), never a denial.
//!
//! A number's region changes only when the subscriber moves their number to another city, which the
//! backends report at the next successful read; `[cache] region_max_age_secs` bounds how long a
//! remembered region may stand in for them.
use moka::future::Cache;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most numbers remembered (about 150 bytes each: ~150 MB at the cap).
const MAX_ENTRIES: u64 = 1_000_000;

/// A remembered region and when a backend reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownRegion {
    pub region: String,
    pub age: Duration,
}

/// Numbers → the region a backend last reported; cheap to clone (clones share the memory).
#[derive(Clone)]
pub struct RegionMemory {
    entries: Option<Cache<String, (Arc<str>, Instant)>>,
    max_age: Duration,
}

impl RegionMemory {
    /// A memory keeping regions for `max_age` (zero: remembers nothing).
    pub fn new(max_age: Duration) -> RegionMemory {
        let entries = (!max_age.is_zero()).then(|| {
            Cache::builder()
                .name("regions")
                .max_capacity(MAX_ENTRIES)
                .time_to_live(max_age)
                .build()
        });
        RegionMemory { entries, max_age }
    }

    /// Remembers that a backend reported `region` for `msisdn` just now.
    pub async fn remember(&self, msisdn: &str, region: &str) {
        if let Some(c) = &self.entries {
            c.insert(msisdn.to_string(), (Arc::from(region), Instant::now())).await;
        }
    }

    /// The region last reported for `msisdn`, if within the configured age.
    pub async fn recall(&self, msisdn: &str) -> Option<KnownRegion> {
        let (region, at) = self.entries.as_ref()?.get(msisdn).await?;
        let age = at.elapsed();
        (age <= self.max_age).then(|| KnownRegion {
            region: region.to_string(),
            age,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn remembers_within_the_age_and_forgets_after() {
        let m = RegionMemory::new(Duration::from_millis(80));
        assert_eq!(m.recall("13800000001").await, None);
        m.remember("13800000001", "0571").await;
        let k = m.recall("13800000001").await.unwrap();
        assert_eq!(k.region, "0571");
        assert!(k.age < Duration::from_millis(80));
        m.remember("13800000001", "0574").await;
        assert_eq!(
            m.recall("13800000001").await.unwrap().region,
            "0574",
            "the latest report wins"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(m.recall("13800000001").await, None);
        let off = RegionMemory::new(Duration::ZERO);
        off.remember("13800000001", "0571").await;
        assert_eq!(off.recall("13800000001").await, None);
    }
}
