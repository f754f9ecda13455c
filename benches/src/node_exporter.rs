//! Node-exporter-like series: the label sets and value shapes of a fleet of Linux hosts
//! scraped every 15 s, so compression and ingest figures reflect real monitoring data.
//!
//! Each instance (host) has 4 CPUs, 2 disks, 3 network devices and 3 filesystems, which gives
//! about 150 series per instance over ~55 metric names: counters that grow by small random
//! amounts (some idle most of the time), gauges doing bounded random walks, constants (sizes,
//! info metrics, unused CPU modes) and a few full-precision floats (durations, the clock).
//! Counter and gauge values are integers of a unit (1/100 s of CPU time, bytes, 4 KiB pages)
//! converted to floats the way node_exporter does, which is what makes them compress well.

use crate::rng::{Rng, mix64};

/// How a series' value evolves from one scrape to the next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueShape {
    /// Picked once in `[low, high]` (in steps of `resolution`), then never changes.
    Constant {
        /// Smallest initial value.
        low: f64,
        /// Largest initial value.
        high: f64,
        /// Granularity of the value.
        resolution: f64,
    },
    /// Grows by `rate` per second on average, in whole steps of `resolution`; a scrape sees
    /// any growth only with probability `active` (idle interfaces, rare errors).
    Counter {
        /// Average growth per second.
        rate: f64,
        /// Granularity of the value.
        resolution: f64,
        /// Probability that the counter moved since the previous scrape.
        active: f64,
    },
    /// Random walk by up to `step` per scrape in steps of `resolution`, kept in `[min, max]`.
    Gauge {
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
        /// Largest change between two scrapes.
        step: f64,
        /// Granularity of the value.
        resolution: f64,
    },
    /// A fresh full-precision value each scrape in `mean ± spread` (measured durations).
    Noise {
        /// Centre of the values.
        mean: f64,
        /// Half-width of the values' range.
        spread: f64,
    },
    /// The host's wall clock in seconds with sub-millisecond noise (`node_time_seconds`).
    Clock,
}

/// Which per-host objects a metric has one series for.
#[derive(Debug, Clone, Copy)]
enum Dimension {
    Host,
    Cpu,
    CpuMode(&'static str),
    Disk,
    NetDevice,
    Filesystem,
    Collector,
    Uname,
}

struct Metric {
    name: &'static str,
    dimension: Dimension,
    shape: ValueShape,
}

const fn constant(value: f64) -> ValueShape {
    ValueShape::Constant {
        low: value,
        high: value,
        resolution: 1.0,
    }
}

const fn counter(rate: f64, resolution: f64, active: f64) -> ValueShape {
    ValueShape::Counter {
        rate,
        resolution,
        active,
    }
}

const fn gauge(min: f64, max: f64, step: f64, resolution: f64) -> ValueShape {
    ValueShape::Gauge {
        min,
        max,
        step,
        resolution,
    }
}

const fn metric(name: &'static str, dimension: Dimension, shape: ValueShape) -> Metric {
    Metric {
        name,
        dimension,
        shape,
    }
}

const PAGE: f64 = 4096.0;
const CPUS: usize = 4;
const DISKS: [&str; 2] = ["sda", "sdb"];
const NET_DEVICES: [&str; 3] = ["eth0", "eth1", "lo"];
const FILESYSTEMS: [(&str, &str, &str); 3] = [
    ("/dev/sda1", "ext4", "/"),
    ("/dev/sdb1", "xfs", "/data"),
    ("tmpfs", "tmpfs", "/run"),
];
const COLLECTORS: [&str; 10] = [
    "cpu",
    "diskstats",
    "filesystem",
    "loadavg",
    "meminfo",
    "netdev",
    "netstat",
    "stat",
    "time",
    "vmstat",
];

/// The metric catalogue, in the order series are generated for each host.
const METRICS: &[Metric] = &[
    // CPU time per mode, in 1/100 s ticks (USER_HZ); nice, steal and irq stay at zero.
    metric(
        "node_cpu_seconds_total",
        Dimension::CpuMode("idle"),
        counter(0.85, 0.01, 1.0),
    ),
    metric(
        "node_cpu_seconds_total",
        Dimension::CpuMode("iowait"),
        counter(0.004, 0.01, 0.6),
    ),
    metric(
        "node_cpu_seconds_total",
        Dimension::CpuMode("irq"),
        counter(0.0, 0.01, 1.0),
    ),
    metric(
        "node_cpu_seconds_total",
        Dimension::CpuMode("nice"),
        counter(0.0, 0.01, 1.0),
    ),
    metric(
        "node_cpu_seconds_total",
        Dimension::CpuMode("softirq"),
        counter(0.003, 0.01, 0.8),
    ),
    metric(
        "node_cpu_seconds_total",
        Dimension::CpuMode("steal"),
        counter(0.0, 0.01, 1.0),
    ),
    metric(
        "node_cpu_seconds_total",
        Dimension::CpuMode("system"),
        counter(0.03, 0.01, 1.0),
    ),
    metric(
        "node_cpu_seconds_total",
        Dimension::CpuMode("user"),
        counter(0.1, 0.01, 1.0),
    ),
    metric(
        "node_cpu_scaling_frequency_hertz",
        Dimension::Cpu,
        gauge(1.2e9, 3.5e9, 4e8, 1e5),
    ),
    metric("node_load1", Dimension::Host, gauge(0.0, 4.0, 0.3, 0.01)),
    metric("node_load5", Dimension::Host, gauge(0.0, 3.0, 0.1, 0.01)),
    metric("node_load15", Dimension::Host, gauge(0.0, 2.5, 0.05, 0.01)),
    metric(
        "node_memory_MemTotal_bytes",
        Dimension::Host,
        constant(16_765_734_912.0),
    ),
    metric(
        "node_memory_MemFree_bytes",
        Dimension::Host,
        gauge(1e9, 8e9, 5e7, PAGE),
    ),
    metric(
        "node_memory_MemAvailable_bytes",
        Dimension::Host,
        gauge(4e9, 12e9, 5e7, PAGE),
    ),
    metric(
        "node_memory_Buffers_bytes",
        Dimension::Host,
        gauge(1e8, 5e8, 1e6, PAGE),
    ),
    metric(
        "node_memory_Cached_bytes",
        Dimension::Host,
        gauge(2e9, 8e9, 2e7, PAGE),
    ),
    metric(
        "node_memory_Active_bytes",
        Dimension::Host,
        gauge(3e9, 8e9, 3e7, PAGE),
    ),
    metric(
        "node_memory_Inactive_bytes",
        Dimension::Host,
        gauge(1e9, 4e9, 1e7, PAGE),
    ),
    metric(
        "node_memory_Dirty_bytes",
        Dimension::Host,
        gauge(0.0, 5e7, 2e6, PAGE),
    ),
    metric(
        "node_memory_Slab_bytes",
        Dimension::Host,
        gauge(3e8, 6e8, 1e6, PAGE),
    ),
    metric(
        "node_memory_Shmem_bytes",
        Dimension::Host,
        gauge(5e7, 2e8, 5e5, PAGE),
    ),
    metric(
        "node_memory_AnonPages_bytes",
        Dimension::Host,
        gauge(1e9, 4e9, 2e7, PAGE),
    ),
    metric(
        "node_memory_SwapTotal_bytes",
        Dimension::Host,
        constant(0.0),
    ),
    metric("node_memory_SwapFree_bytes", Dimension::Host, constant(0.0)),
    metric(
        "node_boot_time_seconds",
        Dimension::Host,
        ValueShape::Constant {
            low: 1.69e9,
            high: 1.70e9,
            resolution: 1.0,
        },
    ),
    metric("node_time_seconds", Dimension::Host, ValueShape::Clock),
    metric(
        "node_context_switches_total",
        Dimension::Host,
        counter(3000.0, 1.0, 1.0),
    ),
    metric(
        "node_intr_total",
        Dimension::Host,
        counter(2000.0, 1.0, 1.0),
    ),
    metric("node_forks_total", Dimension::Host, counter(5.0, 1.0, 0.9)),
    metric(
        "node_procs_running",
        Dimension::Host,
        gauge(1.0, 8.0, 2.0, 1.0),
    ),
    metric(
        "node_procs_blocked",
        Dimension::Host,
        gauge(0.0, 2.0, 1.0, 1.0),
    ),
    metric(
        "node_filefd_allocated",
        Dimension::Host,
        gauge(2000.0, 6000.0, 30.0, 1.0),
    ),
    metric(
        "node_filefd_maximum",
        Dimension::Host,
        constant(9_223_372_036_854_775_807.0),
    ),
    metric("node_uname_info", Dimension::Uname, constant(1.0)),
    metric(
        "node_disk_reads_completed_total",
        Dimension::Disk,
        counter(20.0, 1.0, 0.95),
    ),
    metric(
        "node_disk_writes_completed_total",
        Dimension::Disk,
        counter(50.0, 1.0, 1.0),
    ),
    metric(
        "node_disk_read_bytes_total",
        Dimension::Disk,
        counter(5e5, 512.0, 0.95),
    ),
    metric(
        "node_disk_written_bytes_total",
        Dimension::Disk,
        counter(1.5e6, 512.0, 1.0),
    ),
    metric(
        "node_disk_io_time_seconds_total",
        Dimension::Disk,
        counter(0.02, 0.001, 1.0),
    ),
    metric(
        "node_disk_read_time_seconds_total",
        Dimension::Disk,
        counter(0.01, 0.001, 0.95),
    ),
    metric(
        "node_disk_write_time_seconds_total",
        Dimension::Disk,
        counter(0.05, 0.001, 1.0),
    ),
    metric(
        "node_disk_io_now",
        Dimension::Disk,
        gauge(0.0, 3.0, 1.0, 1.0),
    ),
    metric(
        "node_network_receive_bytes_total",
        Dimension::NetDevice,
        counter(2e5, 1.0, 1.0),
    ),
    metric(
        "node_network_transmit_bytes_total",
        Dimension::NetDevice,
        counter(1.5e5, 1.0, 1.0),
    ),
    metric(
        "node_network_receive_packets_total",
        Dimension::NetDevice,
        counter(300.0, 1.0, 1.0),
    ),
    metric(
        "node_network_transmit_packets_total",
        Dimension::NetDevice,
        counter(250.0, 1.0, 1.0),
    ),
    metric(
        "node_network_receive_errs_total",
        Dimension::NetDevice,
        counter(0.01, 1.0, 0.01),
    ),
    metric(
        "node_network_transmit_errs_total",
        Dimension::NetDevice,
        counter(0.0, 1.0, 1.0),
    ),
    metric(
        "node_network_receive_drop_total",
        Dimension::NetDevice,
        counter(0.05, 1.0, 0.05),
    ),
    metric(
        "node_network_transmit_drop_total",
        Dimension::NetDevice,
        counter(0.0, 1.0, 1.0),
    ),
    metric("node_network_up", Dimension::NetDevice, constant(1.0)),
    metric(
        "node_network_mtu_bytes",
        Dimension::NetDevice,
        constant(1500.0),
    ),
    metric(
        "node_filesystem_size_bytes",
        Dimension::Filesystem,
        ValueShape::Constant {
            low: 1e10,
            high: 5e11,
            resolution: PAGE,
        },
    ),
    metric(
        "node_filesystem_free_bytes",
        Dimension::Filesystem,
        gauge(5e9, 9e9, 2e7, PAGE),
    ),
    metric(
        "node_filesystem_avail_bytes",
        Dimension::Filesystem,
        gauge(4e9, 8e9, 2e7, PAGE),
    ),
    metric(
        "node_filesystem_files",
        Dimension::Filesystem,
        constant(6_553_600.0),
    ),
    metric(
        "node_filesystem_files_free",
        Dimension::Filesystem,
        gauge(6e6, 6.5e6, 50.0, 1.0),
    ),
    metric(
        "node_filesystem_readonly",
        Dimension::Filesystem,
        constant(0.0),
    ),
    metric(
        "node_netstat_Tcp_CurrEstab",
        Dimension::Host,
        gauge(20.0, 200.0, 5.0, 1.0),
    ),
    metric(
        "node_vmstat_pgfault",
        Dimension::Host,
        counter(5000.0, 1.0, 1.0),
    ),
    metric(
        "node_vmstat_pgmajfault",
        Dimension::Host,
        counter(0.2, 1.0, 0.1),
    ),
    metric(
        "node_scrape_collector_duration_seconds",
        Dimension::Collector,
        ValueShape::Noise {
            mean: 0.002,
            spread: 0.0015,
        },
    ),
    metric(
        "node_scrape_collector_success",
        Dimension::Collector,
        constant(1.0),
    ),
    metric("up", Dimension::Host, constant(1.0)),
    metric(
        "scrape_duration_seconds",
        Dimension::Host,
        ValueShape::Noise {
            mean: 0.03,
            spread: 0.01,
        },
    ),
    metric("scrape_samples_scraped", Dimension::Host, constant(1042.0)),
];

/// The distinct metric names of the catalogue.
pub fn metric_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = METRICS.iter().map(|m| m.name).collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// One synthetic series: its labels and the state of its value.
#[derive(Debug, Clone)]
pub struct NodeSeries {
    labels: Vec<(String, String)>,
    instance: usize,
    shape: ValueShape,
    /// Current value in units of the shape's resolution (counters, gauges, constants).
    units: i64,
}

impl NodeSeries {
    /// The labels, sorted by name, `__name__` first.
    pub fn labels(&self) -> &[(String, String)] {
        &self.labels
    }

    /// Index of the host this series belongs to.
    pub fn instance(&self) -> usize {
        self.instance
    }

    /// How the value evolves.
    pub fn shape(&self) -> ValueShape {
        self.shape
    }

    /// Advances to the next scrape at `timestamp_ms`, `interval_ms` after the previous one,
    /// and returns the value scraped then.
    pub fn next_value(&mut self, rng: &mut Rng, timestamp_ms: i64, interval_ms: i64) -> f64 {
        match self.shape {
            ValueShape::Constant { resolution, .. } => from_units(self.units, resolution),
            ValueShape::Counter {
                rate,
                resolution,
                active,
            } => {
                if rate > 0.0 && rng.chance(active) {
                    let expected = rate * interval_ms as f64 / 1000.0 / active;
                    let growth = expected * rng.range_f64(0.5, 1.5) / resolution;
                    self.units += growth.round().max(0.0) as i64;
                }
                from_units(self.units, resolution)
            }
            ValueShape::Gauge {
                min,
                max,
                step,
                resolution,
            } => {
                let step_units = (step / resolution).round().max(1.0) as i64;
                let delta = rng.below(2 * step_units as u64 + 1) as i64 - step_units;
                let (low, high) = ((min / resolution) as i64, (max / resolution) as i64);
                self.units = (self.units + delta).clamp(low, high);
                from_units(self.units, resolution)
            }
            ValueShape::Noise { mean, spread } => {
                (mean + spread * rng.range_f64(-1.0, 1.0)).max(0.0)
            }
            ValueShape::Clock => timestamp_ms as f64 / 1000.0 + rng.range_f64(0.0, 0.001),
        }
    }
}

/// Converts a count of `resolution` units to the float an exporter would print: dividing by
/// the reciprocal for sub-unit resolutions, as node_exporter divides ticks by USER_HZ.
fn from_units(units: i64, resolution: f64) -> f64 {
    if resolution < 1.0 {
        units as f64 / (1.0 / resolution).round()
    } else {
        units as f64 * resolution
    }
}

fn instance_address(instance: usize) -> String {
    format!(
        "10.{}.{}.{}:9100",
        (instance >> 16) & 0xff,
        (instance >> 8) & 0xff,
        instance & 0xff
    )
}

/// The extra labels of each series `metric` has on one host.
fn dimension_labels(dimension: Dimension, instance: usize) -> Vec<Vec<(&'static str, String)>> {
    match dimension {
        Dimension::Host => vec![Vec::new()],
        Dimension::Cpu => (0..CPUS)
            .map(|cpu| vec![("cpu", cpu.to_string())])
            .collect(),
        Dimension::CpuMode(mode) => (0..CPUS)
            .map(|cpu| vec![("cpu", cpu.to_string()), ("mode", mode.to_string())])
            .collect(),
        Dimension::Disk => DISKS
            .iter()
            .map(|d| vec![("device", d.to_string())])
            .collect(),
        Dimension::NetDevice => NET_DEVICES
            .iter()
            .map(|d| vec![("device", d.to_string())])
            .collect(),
        Dimension::Filesystem => FILESYSTEMS
            .iter()
            .map(|(device, fstype, mountpoint)| {
                vec![
                    ("device", device.to_string()),
                    ("fstype", fstype.to_string()),
                    ("mountpoint", mountpoint.to_string()),
                ]
            })
            .collect(),
        Dimension::Collector => COLLECTORS
            .iter()
            .map(|c| vec![("collector", c.to_string())])
            .collect(),
        Dimension::Uname => vec![vec![
            ("machine", "x86_64".to_string()),
            ("nodename", format!("node-{instance:05}")),
            ("release", "6.1.0-18-amd64".to_string()),
            ("sysname", "Linux".to_string()),
        ]],
    }
}

fn initial_units(shape: ValueShape, rng: &mut Rng) -> i64 {
    match shape {
        ValueShape::Constant {
            low,
            high,
            resolution,
        } => (rng.range_f64(low, high.max(low)) / resolution).round() as i64,
        ValueShape::Counter {
            rate, resolution, ..
        } => {
            let uptime_s = rng.range_f64(86_400.0, 60.0 * 86_400.0);
            (rate * uptime_s / resolution).round() as i64
        }
        ValueShape::Gauge {
            min,
            max,
            resolution,
            ..
        } => (rng.range_f64(min, max) / resolution).round() as i64,
        ValueShape::Noise { .. } | ValueShape::Clock => 0,
    }
}

/// The first `count` series of a fleet of hosts, host after host, deterministic in `seed`.
pub fn node_exporter_series(count: usize, seed: u64) -> Vec<NodeSeries> {
    let mut rng = Rng::new(seed);
    let mut series = Vec::with_capacity(count);
    let mut instance = 0;
    while series.len() < count {
        let address = instance_address(instance);
        'host: for metric in METRICS {
            for extra in dimension_labels(metric.dimension, instance) {
                if series.len() == count {
                    break 'host;
                }
                let mut labels: Vec<(String, String)> = vec![
                    ("__name__".to_string(), metric.name.to_string()),
                    ("instance".to_string(), address.clone()),
                    ("job".to_string(), "node".to_string()),
                ];
                labels.extend(extra.into_iter().map(|(n, v)| (n.to_string(), v)));
                labels.sort();
                series.push(NodeSeries {
                    labels,
                    instance,
                    shape: metric.shape,
                    units: initial_units(metric.shape, &mut rng),
                });
            }
        }
        instance += 1;
    }
    series
}

/// Number of series one host has.
pub fn series_per_instance() -> usize {
    METRICS
        .iter()
        .map(|m| dimension_labels(m.dimension, 0).len())
        .sum()
}

/// When the scrapes of a fleet happen: every `interval_ms`, each host at a fixed offset within
/// the interval (Prometheus spreads its targets), each scrape up to `jitter_ms` late (a
/// scrape's timestamp is the wall clock when it starts, which wanders by milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScrapeClock {
    /// Start of the first interval (ms).
    pub start_ms: i64,
    /// Time between two scrapes of a host (ms).
    pub interval_ms: i64,
    /// Largest lateness of one scrape (ms); 0 gives perfectly regular timestamps.
    pub jitter_ms: i64,
}

impl ScrapeClock {
    /// Timestamp of scrape `round` of host `instance`.
    pub fn timestamp(&self, instance: usize, round: usize) -> i64 {
        let interval = self.interval_ms.max(1);
        let offset = (mix64(instance as u64) % interval as u64) as i64;
        let spread = self.jitter_ms.max(0) as u64 + 1;
        let jitter = (mix64(((instance as u64) << 32) ^ round as u64) % spread) as i64;
        self.start_ms + round as i64 * interval + offset + jitter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_node_exporter_sized() {
        let names = metric_names();
        assert!((45..=70).contains(&names.len()), "{}", names.len());
        let per_host = series_per_instance();
        assert!((120..=200).contains(&per_host), "{per_host}");
    }

    #[test]
    fn series_are_unique_sorted_and_deterministic() {
        let a = node_exporter_series(1000, 3);
        let b = node_exporter_series(1000, 3);
        assert_eq!(a.len(), 1000);
        let mut seen = std::collections::HashSet::new();
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.labels(), y.labels());
            assert_eq!(x.labels()[0].0, "__name__");
            assert!(x.labels().windows(2).all(|w| w[0].0 < w[1].0));
            assert!(seen.insert(x.labels().to_vec()));
        }
        assert!(a.last().unwrap().instance() >= 5);
    }

    #[test]
    fn counters_never_decrease_and_gauges_stay_in_bounds() {
        let mut rng = Rng::new(1);
        for mut series in node_exporter_series(500, 9) {
            let clock = ScrapeClock {
                start_ms: 0,
                interval_ms: 15_000,
                jitter_ms: 3,
            };
            let mut previous = f64::MIN;
            for round in 0..50 {
                let t = clock.timestamp(series.instance(), round);
                let value = series.next_value(&mut rng, t, 15_000);
                match series.shape() {
                    ValueShape::Counter { .. } => assert!(value >= previous),
                    ValueShape::Gauge { min, max, .. } => {
                        assert!(value >= min - PAGE && value <= max + PAGE)
                    }
                    ValueShape::Constant { .. } if previous != f64::MIN => {
                        assert_eq!(value, previous)
                    }
                    _ => {}
                }
                previous = value;
            }
        }
    }

    #[test]
    fn cpu_seconds_look_like_ticks() {
        assert_eq!(from_units(1_234_567, 0.01), 12_345.67);
        assert_eq!(from_units(3, 4096.0), 12_288.0);
    }

    #[test]
    fn timestamps_advance_by_the_interval_with_small_jitter() {
        let jittery = ScrapeClock {
            start_ms: 1_000_000,
            interval_ms: 15_000,
            jitter_ms: 3,
        };
        let regular = ScrapeClock {
            jitter_ms: 0,
            ..jittery
        };
        for instance in 0..20 {
            let first = jittery.timestamp(instance, 0);
            assert!((1_000_000..1_015_004).contains(&first));
            for round in 1..10 {
                let step =
                    jittery.timestamp(instance, round) - jittery.timestamp(instance, round - 1);
                assert!((14_997..=15_003).contains(&step), "{step}");
                let step =
                    regular.timestamp(instance, round) - regular.timestamp(instance, round - 1);
                assert_eq!(step, 15_000);
            }
        }
    }
}
