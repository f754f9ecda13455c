//! The reference SRE platform, simulated request by request: order, payment and user services
//! behind a load generator, with the endpoints, weights, error rates, latency profiles and
//! metrics of `sre-platform-architecture.md` (sections 2.1–2.4), and their structured JSON logs.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::Incident;
use crate::registry::{DEFAULT_BUCKETS, Histogram, Registry};
use crate::rng::Rng;

/// Service names, as the `service` label and the log streams carry them.
pub const ORDER: &str = "order-service";
/// The payment service.
pub const PAYMENT: &str = "payment-service";
/// The user service.
pub const USER: &str = "user-service";
/// The load generator (its self-monitoring metrics and burst logs).
pub const LOADGEN: &str = "load-generator";

/// The three application services.
pub const SERVICES: [&str; 3] = [ORDER, PAYMENT, USER];

/// Baseline share of requests answered with a 5xx.
fn base_error_rate(service: &str) -> f64 {
    match service {
        ORDER => 0.02,
        PAYMENT => 0.05,
        _ => 0.001,
    }
}

/// Requests per second each service receives from the load generator at the daily peak
/// (load factor 1); the order service adds its downstream calls on top.
fn base_rps(service: &str) -> f64 {
    match service {
        ORDER => 10.0,
        PAYMENT => 6.0,
        _ => 12.0,
    }
}

/// Traffic multiplier of the reference load generator: a cosine over the UTC hour of day,
/// 1.0 at noon and 0.2 at midnight.
pub fn diurnal(t_ms: i64) -> f64 {
    let hour = t_ms.rem_euclid(86_400_000) as f64 / 3_600_000.0;
    0.2 + 0.8 * (0.5 + 0.5 * ((hour - 12.0) * std::f64::consts::PI / 12.0).cos())
}

/// A burst multiplies traffic by this much ...
const BURST_FACTOR: f64 = 5.0;
/// ... for this long ...
const BURST_MS: i64 = 30_000;
/// ... and starts with this probability per traffic cycle of 15 s.
const BURST_CHANCE_PER_15S: f64 = 0.02;

/// Payment types: name, weight, base latency and jitter (ms).
const PAYMENT_TYPES: [(&str, f64, f64, f64); 4] = [
    ("credit_card", 45.0, 150.0, 50.0),
    ("debit_card", 25.0, 180.0, 60.0),
    ("bank_transfer", 8.0, 500.0, 200.0),
    ("digital_wallet", 22.0, 100.0, 30.0),
];

/// One HTTP route of a service: its request counters per status and its duration histogram.
#[derive(Debug)]
struct Route {
    method: &'static str,
    path: &'static str,
    statuses: Vec<(u16, usize)>,
    duration: Histogram,
}

/// The entry points the load generator hits (reference section 2.4): service, route index,
/// weight, and the concrete path it requests.
const LOADGEN_TABLE: [(&str, usize, f64, &str); 8] = [
    (ORDER, 0, 5.0, "/api/orders"),
    (ORDER, 1, 3.0, "/api/orders"),
    (ORDER, 2, 2.0, "/api/orders/ord-001"),
    (PAYMENT, 0, 5.0, "/api/payments"),
    (PAYMENT, 1, 4.0, "/api/payments"),
    (USER, 0, 4.0, "/api/users/usr-100"),
    (USER, 1, 3.0, "/api/users"),
    (USER, 2, 3.0, "/api/users/auth"),
];

/// Log lines of one interval, by stream label set.
#[derive(Debug, Default)]
pub(crate) struct Logs {
    pub(crate) streams: BTreeMap<String, Vec<(i64, String)>>,
    pub(crate) lines: u64,
}

impl Logs {
    fn push(&mut self, service: &str, level: &str, t_ns: i64, line: String) {
        let labels = format!(
            "{{container=\"{service}\", job=\"vigil-demo\", level=\"{level}\", service=\"{service}\"}}"
        );
        self.streams.entry(labels).or_default().push((t_ns, line));
        self.lines += 1;
    }
}

/// One service's registry and routes.
#[derive(Debug)]
struct Service {
    registry: Registry,
    routes: Vec<Route>,
}

impl Service {
    fn new(name: &'static str, port: u16) -> Service {
        let instance = format!("{name}:{port}");
        let registry = Registry::new(&[
            ("job", "application-services"),
            ("instance", &instance),
            ("service", name),
        ]);
        Service {
            registry,
            routes: Vec::new(),
        }
    }

    fn route(&mut self, method: &'static str, path: &'static str, statuses: &[u16]) -> usize {
        let statuses = statuses
            .iter()
            .map(|status| {
                let text = status.to_string();
                let index = self.registry.counter(
                    "http_requests_total",
                    "Total HTTP requests by method, path and status.",
                    &[("method", method), ("path", path), ("status", &text)],
                );
                (*status, index)
            })
            .collect();
        let duration = self.registry.histogram(
            "http_request_duration_seconds",
            "HTTP request latency in seconds.",
            &[("method", method), ("path", path)],
            DEFAULT_BUCKETS,
        );
        self.routes.push(Route {
            method,
            path,
            statuses,
            duration,
        });
        self.routes.len() - 1
    }

    /// Counts one answered request.
    fn answer(&mut self, route: usize, status: u16, seconds: f64) {
        let route = &self.routes[route];
        if let Some((_, index)) = route.statuses.iter().find(|(s, _)| *s == status) {
            let index = *index;
            let duration = route.duration;
            self.registry.add(index, 1.0);
            self.registry.observe(duration, seconds);
        }
    }
}

/// Indexes of the service-specific metrics (reference sections 2.1–2.3).
#[derive(Debug)]
struct OrderMetrics {
    created: usize,
    in_progress: usize,
    processing: Histogram,
    downstream: BTreeMap<(&'static str, &'static str), usize>,
    breaker: usize,
}

#[derive(Debug)]
struct PaymentMetrics {
    transactions: BTreeMap<(&'static str, &'static str), usize>,
    amount: Vec<(&'static str, usize)>,
    processing: Vec<Histogram>,
    in_flight: usize,
    fraud: BTreeMap<&'static str, usize>,
    breaker: usize,
}

#[derive(Debug)]
struct UserMetrics {
    operations: BTreeMap<&'static str, usize>,
    auth: BTreeMap<&'static str, usize>,
    sessions: usize,
    cache_hits: BTreeMap<&'static str, usize>,
    cache_get: Histogram,
    cache_set: Histogram,
    db_query: Histogram,
}

#[derive(Debug)]
struct LoadgenMetrics {
    sent: Vec<usize>,
    received: BTreeMap<(&'static str, u16), usize>,
    duration: BTreeMap<&'static str, Histogram>,
    errors: BTreeMap<(&'static str, &'static str), usize>,
    current_rps: BTreeMap<&'static str, usize>,
}

/// What one simulated request produced.
struct Outcome {
    status: u16,
    seconds: f64,
}

/// The simulated platform: every target's registry, the random source and the incidents.
#[derive(Debug)]
pub(crate) struct Platform {
    rng: Rng,
    load: f64,
    log_sample: f64,
    incidents: Vec<Incident>,
    order: Service,
    payment: Service,
    user: Service,
    loadgen: Registry,
    order_m: OrderMetrics,
    payment_m: PaymentMetrics,
    user_m: UserMetrics,
    loadgen_m: LoadgenMetrics,
    ups: [usize; 4],
    burst_until: i64,
    /// Circuit breaker of the order service's payment calls: open until this time.
    breaker_open_until: i64,
    payment_calls: (u64, u64),
    /// Requests answered per service and status class, for the progress line and the tests.
    pub(crate) answered: BTreeMap<(&'static str, bool), u64>,
    pub(crate) logs: Logs,
    last_status_log: i64,
}

impl Platform {
    pub(crate) fn new(seed: u64, load: f64, log_sample: f64, incidents: Vec<Incident>) -> Self {
        let mut order = Service::new(ORDER, 8081);
        order.route("GET", "/api/orders", &[200, 500, 503]);
        order.route("POST", "/api/orders", &[201, 500, 502, 503]);
        order.route("GET", "/api/orders/{orderID}", &[200, 404, 500, 503]);
        let r = &mut order.registry;
        let mut downstream = BTreeMap::new();
        for target in [PAYMENT, USER] {
            for status in ["success", "failure"] {
                let index = r.counter(
                    "downstream_requests_total",
                    "Calls to downstream services by outcome.",
                    &[("target_service", target), ("status", status)],
                );
                downstream.insert((target, status), index);
            }
        }
        let order_m = OrderMetrics {
            created: r.counter("orders_created_total", "Orders successfully created.", &[]),
            in_progress: r.gauge("orders_in_progress", "Order creations in flight.", &[]),
            processing: r.histogram(
                "order_processing_duration_seconds",
                "End-to-end order processing time.",
                &[],
                DEFAULT_BUCKETS,
            ),
            downstream,
            breaker: r.gauge(
                "circuit_breaker_state",
                "0 closed, 1 half-open, 2 open.",
                &[("target_service", PAYMENT)],
            ),
        };

        let mut payment = Service::new(PAYMENT, 8082);
        payment.route("POST", "/api/payments", &[201, 402, 500, 502, 503]);
        payment.route("GET", "/api/payments", &[200, 500, 502, 503]);
        let r = &mut payment.registry;
        let mut transactions = BTreeMap::new();
        let mut processing = Vec::new();
        for (kind, ..) in PAYMENT_TYPES {
            for status in ["success", "declined", "failed"] {
                let index = r.counter(
                    "payment_transactions_total",
                    "Payment outcomes by type.",
                    &[("status", status), ("type", kind)],
                );
                transactions.insert((status, kind), index);
            }
            processing.push(r.histogram(
                "payment_processing_duration_seconds",
                "Payment processing time by payment type.",
                &[("type", kind)],
                DEFAULT_BUCKETS,
            ));
        }
        let amount = ["USD", "EUR", "GBP"]
            .into_iter()
            .map(|currency| {
                let index = r.counter(
                    "payment_amount_total",
                    "Total amount processed.",
                    &[("currency", currency)],
                );
                (currency, index)
            })
            .collect();
        let mut fraud = BTreeMap::new();
        for status in ["success", "failure"] {
            let index = r.counter(
                "downstream_requests_total",
                "Calls to downstream services by outcome.",
                &[("target_service", "fraud-detection"), ("status", status)],
            );
            fraud.insert(status, index);
        }
        let payment_m = PaymentMetrics {
            transactions,
            amount,
            processing,
            in_flight: r.gauge("payments_in_flight", "Payments in flight.", &[]),
            fraud,
            breaker: r.gauge(
                "circuit_breaker_state",
                "0 closed, 1 half-open, 2 open.",
                &[("target_service", "fraud-detection")],
            ),
        };

        let mut user = Service::new(USER, 8083);
        user.route("GET", "/api/users/{userID}", &[200, 500]);
        user.route("GET", "/api/users", &[200, 500]);
        user.route("POST", "/api/users/auth", &[200, 401, 423, 429, 500]);
        user.route("GET", "/api/users/validate", &[200, 500]);
        let r = &mut user.registry;
        let operations = ["get", "list", "auth", "validate"]
            .into_iter()
            .map(|op| {
                let index = r.counter(
                    "user_requests_total",
                    "Requests by operation.",
                    &[("operation", op)],
                );
                (op, index)
            })
            .collect();
        let auth = [
            "success",
            "invalid_credentials",
            "account_locked",
            "rate_limited",
        ]
        .into_iter()
        .map(|result| {
            let index = r.counter(
                "user_auth_attempts_total",
                "Authentication attempts by result.",
                &[("result", result)],
            );
            (result, index)
        })
        .collect();
        let cache_hits = ["hit", "miss"]
            .into_iter()
            .map(|result| {
                let index = r.counter(
                    "cache_hits_total",
                    "User cache lookups by result.",
                    &[("result", result)],
                );
                (result, index)
            })
            .collect();
        let user_m = UserMetrics {
            operations,
            auth,
            sessions: r.gauge("active_sessions", "Active user sessions.", &[]),
            cache_hits,
            cache_get: r.histogram(
                "cache_operation_duration_seconds",
                "Cache operation latency.",
                &[("operation", "get")],
                DEFAULT_BUCKETS,
            ),
            cache_set: r.histogram(
                "cache_operation_duration_seconds",
                "Cache operation latency.",
                &[("operation", "set")],
                DEFAULT_BUCKETS,
            ),
            db_query: r.histogram(
                "user_db_query_duration_seconds",
                "Simulated database query latency.",
                &[],
                DEFAULT_BUCKETS,
            ),
        };

        let mut loadgen = Registry::new(&[("job", LOADGEN), ("instance", "load-generator:8090")]);
        let sent = LOADGEN_TABLE
            .iter()
            .map(|(service, route, _, path)| {
                let method = if (*service == ORDER && *route == 1)
                    || (*service == USER && *route == 2)
                    || (*service == PAYMENT && *route == 0)
                {
                    "POST"
                } else {
                    "GET"
                };
                loadgen.counter(
                    "loadgen_requests_sent_total",
                    "Requests sent by the load generator.",
                    &[("service", service), ("method", method), ("path", path)],
                )
            })
            .collect();
        let mut received = BTreeMap::new();
        let mut duration = BTreeMap::new();
        let mut errors = BTreeMap::new();
        let mut current_rps = BTreeMap::new();
        for (service, statuses) in [
            (ORDER, &[200u16, 201, 404, 500, 502, 503][..]),
            (PAYMENT, &[200, 201, 402, 500, 502, 503][..]),
            (USER, &[200, 401, 423, 429, 500][..]),
        ] {
            for status in statuses {
                let text = status.to_string();
                let index = loadgen.counter(
                    "loadgen_responses_received_total",
                    "Responses received by the load generator.",
                    &[("service", service), ("status_code", &text)],
                );
                received.insert((service, *status), index);
            }
            duration.insert(
                service,
                loadgen.histogram(
                    "loadgen_request_duration_seconds",
                    "Request latency seen by the load generator.",
                    &[("service", service)],
                    DEFAULT_BUCKETS,
                ),
            );
            for error_type in ["timeout", "connection_refused"] {
                let index = loadgen.counter(
                    "loadgen_request_errors_total",
                    "Requests that got no HTTP answer.",
                    &[("service", service), ("error_type", error_type)],
                );
                errors.insert((service, error_type), index);
            }
            current_rps.insert(
                service,
                loadgen.gauge(
                    "loadgen_current_rps",
                    "Target requests per second.",
                    &[("service", service)],
                ),
            );
        }
        let loadgen_m = LoadgenMetrics {
            sent,
            received,
            duration,
            errors,
            current_rps,
        };
        let ups = [
            order.registry.gauge("up", "Scrape target health.", &[]),
            payment.registry.gauge("up", "Scrape target health.", &[]),
            user.registry.gauge("up", "Scrape target health.", &[]),
            loadgen.gauge("up", "Scrape target health.", &[]),
        ];
        let mut platform = Platform {
            rng: Rng::new(seed),
            load,
            log_sample,
            incidents,
            order,
            payment,
            user,
            loadgen,
            order_m,
            payment_m,
            user_m,
            loadgen_m,
            ups,
            burst_until: i64::MIN,
            breaker_open_until: i64::MIN,
            payment_calls: (0, 0),
            answered: BTreeMap::new(),
            logs: Logs::default(),
            last_status_log: i64::MIN,
        };
        platform.order.registry.set(platform.ups[0], 1.0);
        platform.payment.registry.set(platform.ups[1], 1.0);
        platform.user.registry.set(platform.ups[2], 1.0);
        platform.loadgen.set(platform.ups[3], 1.0);
        platform
    }

    pub(crate) fn incidents(&self) -> &[Incident] {
        &self.incidents
    }

    /// The registries of every target, in a fixed order.
    pub(crate) fn registries(&self) -> [&Registry; 4] {
        [
            &self.order.registry,
            &self.payment.registry,
            &self.user.registry,
            &self.loadgen,
        ]
    }

    fn error_rate(&self, service: &str, t_ms: i64) -> f64 {
        self.incidents
            .iter()
            .filter(|i| i.service == service && i.active_at(t_ms))
            .filter_map(|i| i.error_rate)
            .fold(base_error_rate(service), |_, rate| rate)
    }

    fn latency_factor(&self, service: &str, t_ms: i64) -> f64 {
        self.incidents
            .iter()
            .filter(|i| i.service == service && i.active_at(t_ms))
            .map(|i| i.latency_factor)
            .product()
    }

    /// A latency in seconds: `base` ± normal `jitter` (ms), never below a fifth of `base`,
    /// with the order service's occasional 3–10× tail spikes when `tail` is set.
    fn latency(&mut self, service: &str, t_ms: i64, base: f64, jitter: f64, tail: bool) -> f64 {
        let mut ms = (base + jitter * self.rng.normal()).max(base / 5.0);
        if tail && self.rng.chance(0.01) {
            ms *= 3.0 + 7.0 * self.rng.uniform();
        }
        ms * self.latency_factor(service, t_ms) / 1000.0
    }

    /// Simulates the load generator's traffic over `(from_ms, to_ms]`; the registries then hold
    /// the values a scrape at `to_ms` would see.
    pub(crate) fn simulate(&mut self, from_ms: i64, to_ms: i64) {
        let span = (to_ms - from_ms).max(1);
        let cycles = span as f64 / 15_000.0;
        if self.burst_until <= from_ms
            && self
                .rng
                .chance(1.0 - (1.0 - BURST_CHANCE_PER_15S).powf(cycles))
        {
            self.burst_until = from_ms + BURST_MS;
            let line = json!({
                "time": rfc3339(from_ms),
                "level": "warn",
                "service": LOADGEN,
                "msg": "traffic burst started",
                "multiplier": BURST_FACTOR,
                "duration": BURST_MS as f64 / 1000.0,
                "trace_id": self.rng.trace_id(),
            });
            self.logs
                .push(LOADGEN, "warn", from_ms * 1_000_000, line.to_string());
        }
        let burst_overlap = self
            .burst_until
            .min(to_ms)
            .saturating_sub(from_ms)
            .clamp(0, span) as f64;
        let multiplier = diurnal(from_ms + span / 2)
            * (1.0 + (BURST_FACTOR - 1.0) * burst_overlap / span as f64);
        self.payment_calls = (0, 0);
        for service in SERVICES {
            let rps = base_rps(service) * self.load * multiplier;
            let rps_index = self.loadgen_m.current_rps[service];
            self.loadgen.set(rps_index, rps);
            let total_weight: f64 = LOADGEN_TABLE
                .iter()
                .filter(|row| row.0 == service)
                .map(|row| row.2)
                .sum();
            for (row, (row_service, route, weight, _)) in LOADGEN_TABLE.iter().enumerate() {
                if *row_service != service {
                    continue;
                }
                let mean = rps * weight / total_weight * span as f64 / 1000.0;
                let count = self.rng.poisson(mean);
                for _ in 0..count {
                    let t_ms = from_ms + (self.rng.uniform() * span as f64) as i64;
                    let outcome = self.request(service, *route, t_ms);
                    self.loadgen.add(self.loadgen_m.sent[row], 1.0);
                    if outcome.seconds > 5.0 {
                        let index = self.loadgen_m.errors[&(service, "timeout")];
                        self.loadgen.add(index, 1.0);
                        continue;
                    }
                    if let Some(index) = self.loadgen_m.received.get(&(service, outcome.status)) {
                        self.loadgen.add(*index, 1.0);
                    }
                    let histogram = self.loadgen_m.duration[service];
                    self.loadgen.observe(histogram, outcome.seconds + 0.001);
                }
            }
        }
        // Gauges, read at the scrape.
        let order_rps = base_rps(ORDER) * self.load * multiplier * 0.3;
        let in_progress = (order_rps * 0.45 * (1.0 + 0.2 * self.rng.normal())).max(0.0);
        self.order
            .registry
            .set(self.order_m.in_progress, in_progress.round());
        let payment_rps =
            (base_rps(PAYMENT) * 5.0 / 9.0 + base_rps(ORDER) * 0.3) * self.load * multiplier;
        let in_flight = (payment_rps * 0.2 * (1.0 + 0.2 * self.rng.normal())).max(0.0);
        self.payment
            .registry
            .set(self.payment_m.in_flight, in_flight.round());
        let sessions = 150.0 + 850.0 * diurnal(to_ms) * (1.0 + 0.03 * self.rng.normal());
        self.user
            .registry
            .set(self.user_m.sessions, sessions.round());
        // The order service's breaker on payment calls: opens for 30 s when at least half of
        // at least 5 calls failed in this interval, then probes (half-open) before closing.
        let (calls, failures) = self.payment_calls;
        let state = if calls >= 5 && failures * 2 >= calls {
            self.breaker_open_until = to_ms + 30_000;
            2.0
        } else if self.breaker_open_until > from_ms {
            1.0
        } else {
            0.0
        };
        self.order.registry.set(self.order_m.breaker, state);
        if to_ms.saturating_sub(self.last_status_log) >= 60_000 {
            self.last_status_log = to_ms;
            let line = json!({
                "time": rfc3339(to_ms),
                "level": "info",
                "service": LOADGEN,
                "msg": "load generator status",
                "multiplier": (multiplier * 1000.0).round() / 1000.0,
                "trace_id": self.rng.trace_id(),
            });
            self.logs
                .push(LOADGEN, "info", to_ms * 1_000_000, line.to_string());
        }
    }

    /// One request from the load generator to `service`'s `route`, at `t_ms`.
    fn request(&mut self, service: &'static str, route: usize, t_ms: i64) -> Outcome {
        let trace = self.rng.trace_id();
        let sampled = self.rng.chance(self.log_sample);
        match service {
            ORDER => self.order_request(route, t_ms, &trace, sampled),
            PAYMENT => self.payment_request(route, t_ms, &trace, sampled),
            _ => self.user_request(route, t_ms, &trace, sampled),
        }
    }

    fn server_error(&mut self, service: &'static str, t_ms: i64) -> bool {
        let rate = self.error_rate(service, t_ms);
        self.rng.chance(rate)
    }

    /// Logs a request: errors always, 4xx answers at 4× the sampling rate, the rest when the
    /// trace is sampled.
    #[allow(clippy::too_many_arguments)]
    fn log_request(
        &mut self,
        service: &'static str,
        route: (&str, &str),
        outcome: &Outcome,
        t_ms: i64,
        trace: &str,
        sampled: bool,
        msg: &str,
        extra: &[(&str, Value)],
    ) {
        let level = match outcome.status {
            500.. => "error",
            400.. => "warn",
            _ => "info",
        };
        let keep = match level {
            "error" => true,
            "warn" => sampled || self.rng.chance((self.log_sample * 4.0).min(1.0)),
            _ => sampled,
        };
        if !keep {
            return;
        }
        let mut fields = Map::new();
        fields.insert("time".into(), rfc3339(t_ms).into());
        fields.insert("level".into(), level.into());
        fields.insert("service".into(), service.into());
        fields.insert("method".into(), route.0.into());
        fields.insert("path".into(), route.1.into());
        fields.insert("status".into(), outcome.status.into());
        fields.insert(
            "duration".into(),
            ((outcome.seconds * 1e6).round() / 1e6).into(),
        );
        fields.insert("trace_id".into(), trace.into());
        fields.insert("msg".into(), msg.into());
        for (key, value) in extra {
            fields.insert((*key).into(), value.clone());
        }
        let t_ns = t_ms * 1_000_000 + (self.rng.uniform() * 1e6) as i64;
        self.logs
            .push(service, level, t_ns, Value::Object(fields).to_string());
    }

    fn count(&mut self, service: &'static str, route: usize, outcome: &Outcome) {
        let target = match service {
            ORDER => &mut self.order,
            PAYMENT => &mut self.payment,
            _ => &mut self.user,
        };
        target.answer(route, outcome.status, outcome.seconds);
        *self
            .answered
            .entry((service, outcome.status >= 500))
            .or_default() += 1;
    }

    fn route_of(&self, service: &'static str, route: usize) -> (&'static str, &'static str) {
        let target = match service {
            ORDER => &self.order,
            PAYMENT => &self.payment,
            _ => &self.user,
        };
        (target.routes[route].method, target.routes[route].path)
    }

    fn order_request(&mut self, route: usize, t_ms: i64, trace: &str, sampled: bool) -> Outcome {
        let failed = self.server_error(ORDER, t_ms);
        let error_status = if self.rng.chance(0.8) { 500 } else { 503 };
        let mut extra = Vec::new();
        let (outcome, msg) = match route {
            1 => {
                // POST /api/orders: validate the user, then charge the payment, each behind a
                // circuit breaker.
                let mut seconds = self.latency(ORDER, t_ms, 200.0, 50.0, true);
                let validate = self.user_request(3, t_ms, trace, sampled);
                seconds += validate.seconds;
                let user_ok = validate.status < 500;
                let key = (USER, if user_ok { "success" } else { "failure" });
                self.order.registry.add(self.order_m.downstream[&key], 1.0);
                let breaker_open = self.breaker_open_until > t_ms;
                let mut payment_ok = true;
                if user_ok && !breaker_open && !failed {
                    let payment = self.payment_request(0, t_ms, trace, sampled);
                    seconds += payment.seconds;
                    payment_ok = payment.status < 500;
                    self.payment_calls.0 += 1;
                    if !payment_ok {
                        self.payment_calls.1 += 1;
                    }
                    let key = (PAYMENT, if payment_ok { "success" } else { "failure" });
                    self.order.registry.add(self.order_m.downstream[&key], 1.0);
                }
                let order_id = format!("ord-{:06}", self.rng.next_u64() % 1_000_000);
                let (status, msg) = if failed {
                    (error_status, "order creation failed: internal error")
                } else if !user_ok {
                    (502, "order creation failed: user validation unavailable")
                } else if breaker_open {
                    (503, "order creation failed: payment circuit breaker open")
                } else if !payment_ok {
                    // The order is stored and its payment retried asynchronously.
                    (201, "order created, payment pending retry")
                } else {
                    (201, "order created")
                };
                if status == 201 {
                    self.order.registry.add(self.order_m.created, 1.0);
                    extra.push(("order_id", Value::from(order_id)));
                }
                let processing = self.order_m.processing;
                self.order.registry.observe(processing, seconds);
                (Outcome { status, seconds }, msg)
            }
            2 => {
                let seconds = self.latency(ORDER, t_ms, 50.0, 15.0, true);
                let (status, msg) = if failed {
                    (error_status, "get order failed: database error")
                } else if self.rng.chance(0.02) {
                    (404, "order not found")
                } else {
                    (200, "order fetched")
                };
                extra.push(("order_id", Value::from("ord-001")));
                (Outcome { status, seconds }, msg)
            }
            _ => {
                let seconds = self.latency(ORDER, t_ms, 50.0, 15.0, true);
                let (status, msg) = if failed {
                    (error_status, "list orders failed: database error")
                } else {
                    (200, "orders listed")
                };
                (Outcome { status, seconds }, msg)
            }
        };
        self.count(ORDER, route, &outcome);
        let names = self.route_of(ORDER, route);
        self.log_request(ORDER, names, &outcome, t_ms, trace, sampled, msg, &extra);
        outcome
    }

    fn payment_request(&mut self, route: usize, t_ms: i64, trace: &str, sampled: bool) -> Outcome {
        let failed = self.server_error(PAYMENT, t_ms);
        let (outcome, msg, extra) = if route == 0 {
            let weights: Vec<f64> = PAYMENT_TYPES.iter().map(|p| p.1).collect();
            let kind = self.rng.weighted(&weights);
            let (name, _, base, jitter) = PAYMENT_TYPES[kind];
            let seconds = self.latency(PAYMENT, t_ms, base, jitter, false);
            let error = ["gateway_error", "fraud_check_failed", "internal_error"]
                [self.rng.weighted(&[5.0, 3.0, 2.0])];
            let fraud_ok = !(failed && error == "fraud_check_failed");
            let key = if fraud_ok { "success" } else { "failure" };
            self.payment.registry.add(self.payment_m.fraud[key], 1.0);
            let (status, result, msg) = if failed {
                let status = match error {
                    "gateway_error" => 502,
                    "fraud_check_failed" => 503,
                    _ => 500,
                };
                (status, "failed", format!("payment failed: {error}"))
            } else if self.rng.chance(0.04) {
                (402, "declined", "payment declined".to_string())
            } else {
                (201, "success", "payment processed".to_string())
            };
            self.payment
                .registry
                .add(self.payment_m.transactions[&(result, name)], 1.0);
            let histogram = self.payment_m.processing[kind];
            self.payment.registry.observe(histogram, seconds);
            let amount = (40.0 * (0.8 * self.rng.normal()).exp() * 100.0).round() / 100.0;
            let currency = self.rng.weighted(&[6.0, 3.0, 1.0]);
            if result == "success" {
                let (_, index) = self.payment_m.amount[currency];
                self.payment.registry.add(index, amount);
            }
            let extra = vec![
                ("payment_type", Value::from(name)),
                ("amount", Value::from(amount)),
                ("currency", Value::from(self.payment_m.amount[currency].0)),
            ];
            (Outcome { status, seconds }, msg, extra)
        } else {
            let seconds = self.latency(PAYMENT, t_ms, 40.0, 10.0, false);
            let (status, msg) = if failed {
                let status = [500, 502, 503][self.rng.weighted(&[7.0, 2.0, 1.0])];
                (status, "list payments failed: gateway error".to_string())
            } else {
                (200, "payments listed".to_string())
            };
            (Outcome { status, seconds }, msg, Vec::new())
        };
        // The fraud-check breaker opens when fraud checks fail for half of the payments.
        let breaker = if self.error_rate(PAYMENT, t_ms) >= 0.5 {
            2.0
        } else {
            0.0
        };
        self.payment.registry.set(self.payment_m.breaker, breaker);
        self.count(PAYMENT, route, &outcome);
        let names = self.route_of(PAYMENT, route);
        self.log_request(PAYMENT, names, &outcome, t_ms, trace, sampled, &msg, &extra);
        outcome
    }

    fn user_request(&mut self, route: usize, t_ms: i64, trace: &str, sampled: bool) -> Outcome {
        let failed = self.server_error(USER, t_ms);
        let op = ["get", "list", "auth", "validate"][route.min(3)];
        self.user.registry.add(self.user_m.operations[op], 1.0);
        let mut extra = Vec::new();
        let (status, seconds, msg) = match route {
            0 | 3 => {
                // Cache-aside lookup: a hit costs ~1 ms, a miss adds a database query and a
                // cache fill.
                let mut seconds = self.latency(USER, t_ms, 8.0, 3.0, false);
                let get = self.latency(USER, t_ms, 1.0, 0.3, false);
                self.user.registry.observe(self.user_m.cache_get, get);
                seconds += get;
                let hit = self.rng.chance(0.9);
                let key = if hit { "hit" } else { "miss" };
                self.user.registry.add(self.user_m.cache_hits[key], 1.0);
                if !hit {
                    let query = self.latency(USER, t_ms, 30.0, 10.0, false);
                    self.user.registry.observe(self.user_m.db_query, query);
                    let set = self.latency(USER, t_ms, 1.5, 0.5, false);
                    self.user.registry.observe(self.user_m.cache_set, set);
                    seconds += query + set;
                }
                extra.push(("cache", Value::from(key)));
                extra.push(("user_id", Value::from("usr-100")));
                if failed {
                    (500, seconds, "user lookup failed: database error")
                } else if route == 3 {
                    (200, seconds, "user validated")
                } else {
                    (200, seconds, "user fetched")
                }
            }
            1 => {
                let seconds = self.latency(USER, t_ms, 10.0, 3.0, false);
                let query = self.latency(USER, t_ms, 40.0, 15.0, false);
                self.user.registry.observe(self.user_m.db_query, query);
                if failed {
                    (500, seconds + query, "list users failed: database error")
                } else {
                    (200, seconds + query, "users listed")
                }
            }
            _ => {
                let seconds = self.latency(USER, t_ms, 80.0, 20.0, false);
                if failed {
                    (500, seconds, "authentication failed: internal error")
                } else {
                    let results = [
                        ("success", 200, "user authenticated"),
                        (
                            "invalid_credentials",
                            401,
                            "authentication failed: invalid credentials",
                        ),
                        (
                            "account_locked",
                            423,
                            "authentication failed: account locked",
                        ),
                        ("rate_limited", 429, "authentication failed: rate limited"),
                    ];
                    let pick = self.rng.weighted(&[85.0, 7.0, 5.0, 3.0]);
                    let (result, status, msg) = results[pick];
                    self.user.registry.add(self.user_m.auth[result], 1.0);
                    (status, seconds, msg)
                }
            }
        };
        let outcome = Outcome { status, seconds };
        self.count(USER, route, &outcome);
        let names = self.route_of(USER, route);
        self.log_request(USER, names, &outcome, t_ms, trace, sampled, msg, &extra);
        outcome
    }
}

/// RFC 3339 with milliseconds, UTC.
pub(crate) fn rfc3339(t_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(t_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}
