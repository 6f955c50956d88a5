//! The dashboard page.

use leptos::prelude::*;
use leptos_meta::Title;
use rust_decimal::prelude::ToPrimitive;

use super::{api::get_summary, CurrencyVolume, DashboardSummary};
use crate::{
    components::{ErrorPanel, Loading, StatusBadge},
    domain::{format_money, Currency},
};

#[component]
pub fn DashboardPage() -> impl IntoView {
    let summary = Resource::new(|| (), |_| get_summary());
    view! {
        <Title text="Dashboard · DelTran Console"/>
        <header class="mb-6">
            <h1 class="text-2xl font-semibold">"Dashboard"</h1>
            <p class="text-sm text-slate-500 dark:text-slate-400">
                "Payments, volume and open compliance work. Days are UTC."
            </p>
        </header>
        <Suspense fallback=|| view! { <Loading/> }>
            <ErrorBoundary fallback=|errors| view! { <ErrorPanel errors/> }>
                {move || Suspend::new(async move {
                    summary.await.map(|s| view! { <Summary summary=s/> })
                })}
            </ErrorBoundary>
        </Suspense>
    }
}

/// The review queue for a role that may open it; else the payments whose checks wait for one.
fn reviews_href() -> String {
    let queue = use_context::<crate::auth::Me>()
        .is_some_and(|m| m.can(crate::auth::Permission::ComplianceView));
    if queue {
        "/compliance"
    } else {
        "/payments?compliance=review"
    }
    .into()
}

#[component]
fn Summary(summary: DashboardSummary) -> impl IntoView {
    let total = summary.today_total();
    // The server's day: the browser's clock is not asked (and the wasm has none).
    let today = summary.as_of.date_naive();
    let volume = summary.volume.clone();
    let days = summary.volume_days;
    view! {
        <section aria-label="Key figures" class="grid gap-4 sm:grid-cols-3 mb-6">
            <Figure label="Payments today" value=total.to_string() href=today_payments(today, "")/>
            <Figure label="Open compliance reviews" value=summary.open_reviews.to_string() href=reviews_href()/>
            <Figure label="Active banks" value=summary.active_banks.to_string() href="/banks?active=true".into()/>
        </section>
        <section class="card mb-6">
            <h2 class="text-lg font-semibold mb-3">"Payments today by status"</h2>
            <table class="data-table" aria-label="Payments today by status">
                <thead>
                    <tr>
                        <th scope="col">"Status"</th>
                        <th scope="col" class="text-right">"Payments"</th>
                        <th scope="col" class="w-1/2">"Share"</th>
                    </tr>
                </thead>
                <tbody>
                    {summary
                        .today
                        .iter()
                        .map(|s| {
                            let share = if total > 0 { s.count * 100 / total } else { 0 };
                            view! {
                                <tr>
                                    <td><StatusBadge status=s.status/></td>
                                    <td class="text-right tabular-nums">
                                        <a class="link" href=today_payments(today, &format!("status={}&", s.status.as_str()))>{s.count}</a>
                                    </td>
                                    <td>
                                        <div class="h-2 rounded bg-slate-200 dark:bg-slate-700">
                                            <div
                                                class="h-2 rounded bg-sky-600"
                                                style=format!("width: {share}%")
                                            ></div>
                                        </div>
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>
        <VolumeChart volume days/>
    }
}

/// The Payments list of `today` (UTC) with `filters` (`status=pending&`, or nothing).
fn today_payments(today: chrono::NaiveDate, filters: &str) -> String {
    format!("/payments?{filters}from={today}T00:00")
}

/// A key figure, linked to the list it counts.
#[component]
fn Figure(label: &'static str, value: String, href: String) -> impl IntoView {
    view! {
        <a class="card block hover:border-sky-400" href=href>
            <div class="text-sm text-slate-500 dark:text-slate-400">{label}</div>
            <div class="text-3xl font-semibold tabular-nums" aria-label=label>{value}</div>
        </a>
    }
}

/// A coloured badge with a payment status's name.
const CHART_W: f64 = 720.0;
const CHART_H: f64 = 220.0;
const PAD_L: f64 = 70.0;
const PAD_B: f64 = 24.0;

/// Daily volume of one currency at a time, as an SVG bar chart; the buttons switch currency.
#[component]
fn VolumeChart(volume: Vec<CurrencyVolume>, days: i64) -> impl IntoView {
    if volume.is_empty() {
        return view! {
            <section class="card">
                <h2 class="text-lg font-semibold">"Volume"</h2>
                <p class="text-slate-500">"No payments in the last " {days} " days."</p>
            </section>
        }
        .into_any();
    }
    let selected = RwSignal::new(volume[0].currency);
    let currencies: Vec<Currency> = volume.iter().map(|v| v.currency).collect();
    let series = StoredValue::new(volume);
    let current =
        move || series.with_value(|v| v.iter().find(|c| c.currency == selected.get()).cloned());
    view! {
        <section class="card">
            <div class="flex flex-wrap items-center justify-between gap-2 mb-3">
                <h2 class="text-lg font-semibold" id="volume-heading">
                    "Volume over " {days} " days, " {move || selected.get().code()}
                </h2>
                <div role="group" aria-label="Currency" class="flex flex-wrap gap-1">
                    {currencies
                        .into_iter()
                        .map(|c| {
                            view! {
                                <button
                                    type="button"
                                    class="chip"
                                    aria-pressed=move || (selected.get() == c).to_string()
                                    on:click=move |_| selected.set(c)
                                >
                                    {c.code()}
                                </button>
                            }
                        })
                        .collect_view()}
                </div>
            </div>
            {move || current().map(|cv| view! { <Bars cv/> })}
        </section>
    }
    .into_any()
}

#[component]
fn Bars(cv: CurrencyVolume) -> impl IntoView {
    let max = cv
        .days
        .iter()
        .map(|d| d.amount.to_f64().unwrap_or(0.0))
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let n = cv.days.len().max(1) as f64;
    let slot = (CHART_W - PAD_L) / n;
    let plot_h = CHART_H - PAD_B;
    let currency = cv.currency;
    let label = format!(
        "Daily volume in {currency}, total {} {currency}",
        format_money(cv.total, currency)
    );
    let grid = [0.0, 0.5, 1.0].map(|f| {
        let y = plot_h - f * (plot_h - 10.0);
        let value = rust_decimal::Decimal::from_f64_retain(max * f).unwrap_or_default();
        view! {
            <line x1=PAD_L x2=CHART_W y1=y y2=y class="stroke-slate-200 dark:stroke-slate-700"/>
            <text x=PAD_L - 6.0 y=y + 4.0 text-anchor="end" class="fill-slate-500 text-[10px]">
                {compact(value.to_f64().unwrap_or(0.0))}
            </text>
        }
    });
    let bars = cv
        .days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let v = d.amount.to_f64().unwrap_or(0.0);
            let h = v / max * (plot_h - 10.0);
            let x = PAD_L + i as f64 * slot + slot * 0.15;
            let tip = format!(
                "{}: {} {currency} in {} payments",
                d.day,
                format_money(d.amount, currency),
                d.count
            );
            let tick = (i % 5 == 0).then(|| {
                view! {
                    <text x=x + slot * 0.35 y=CHART_H - 6.0 text-anchor="middle" class="fill-slate-500 text-[10px]">
                        {d.day.format("%d %b").to_string()}
                    </text>
                }
            });
            view! {
                <rect x=x y=plot_h - h width=slot * 0.7 height=h class="fill-sky-600">
                    <title>{tip}</title>
                </rect>
                {tick}
            }
        })
        .collect_view();
    // The payments the chart sums (bars are not links: an <a> in SVG is another element).
    let these = cv.days.first().zip(cv.days.last()).map(|(first, last)| {
        let to = last.day + chrono::Duration::days(1);
        let href = format!("/payments?currency={currency}&from={}T00:00&to={to}T00:00", first.day);
        view! { <p class="mt-2 text-sm"><a class="link" href=href>{format!("The {currency} payments of these days")}</a></p> }
    });
    view! {
        <svg
            viewBox=format!("0 0 {CHART_W} {CHART_H}")
            role="img"
            aria-label=label
            class="w-full h-auto"
        >
            {grid}
            {bars}
        </svg>
        {these}
    }
}

/// 1234567 → "1.2M".
fn compact(v: f64) -> String {
    match v {
        v if v >= 1e9 => format!("{:.1}B", v / 1e9),
        v if v >= 1e6 => format!("{:.1}M", v / 1e6),
        v if v >= 1e3 => format!("{:.1}k", v / 1e3),
        v => format!("{v:.0}"),
    }
}

#[cfg(test)]
mod tests {
    use super::compact;

    #[test]
    fn compact_numbers() {
        assert_eq!(compact(999.0), "999");
        assert_eq!(compact(1_260.0), "1.3k");
        assert_eq!(compact(3_400_000.0), "3.4M");
        assert_eq!(compact(2e9), "2.0B");
    }
}
