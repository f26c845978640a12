//! Turns a scale run's outputs (see `scripts/scale-run.sh`) into one PNG: wire throughput with the
//! phase changes on top, client and server RSS below, both over the seconds since the sync started.
//!
//! ```text
//! cargo run --release --manifest-path tools/scale-plot/Cargo.toml -- \
//!     --dir /tmp/scale --name 5m --out docs/scale-5m.png [--title "..."] [--font PATH.ttf]
//! ```
//!
//! Reads `rssNAME.csv` (`t,client_rss_kb,server_rss_kb,client_cpu_s`, one row a second) and
//! `syncNAME.err` (the client's log). Rows or lines it cannot read, such as a half-written last
//! line of a run still going, are skipped. The log's first timestamp is taken as t = 0, which is
//! when the sampler's t = 0 row was taken too, to within a second.
//! The sampler's `t` counts turns of its loop (`sleep 1` plus three `ps`), not wall seconds: on a
//! busy machine it falls behind by some percent, so late RSS changes show a little early.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};
use std::path::PathBuf;
use std::process::ExitCode;

/// Window of the smoothed throughput, in seconds (centred on each point).
const SMOOTH_S: f64 = 10.0;
const CLIENT: RGBColor = RGBColor(31, 119, 180);
const SERVER: RGBColor = RGBColor(255, 127, 14);
const PHASE: RGBColor = RGBColor(200, 30, 30);

/// (seconds, value) points of one line.
type Series = Vec<(f64, f64)>;
/// One sampler row: (t, client RSS GiB, server RSS GiB), `None` where the field was unreadable.
type RssRow = (f64, Option<f64>, Option<f64>);

/// Command-line options.
struct Args {
    dir: PathBuf,
    name: String,
    out: PathBuf,
    title: Option<String>,
    font: PathBuf,
}

/// What the sync log tells: cumulative MiB over time, and the phase changes.
#[derive(Default)]
struct Log {
    /// (seconds since the first log line, cumulative MiB received).
    progress: Vec<(f64, f64)>,
    /// (seconds since the first log line, phase name).
    phases: Vec<(f64, String)>,
}

fn main() -> ExitCode {
    match parse_args().and_then(|args| run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scale-plot: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Parses `--dir`, `--name`, `--out`, `--title` and `--font`.
fn parse_args() -> Result<Args, String> {
    let usage =
        "usage: scale-plot --dir DIR --name NAME --out FILE.png [--title TEXT] [--font FILE.ttf]";
    let (mut dir, mut name, mut out, mut title) = (None, None, None, None);
    let mut font = PathBuf::from("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf");
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value; {usage}"))?;
        match flag.as_str() {
            "--dir" => dir = Some(PathBuf::from(value)),
            "--name" => name = Some(value),
            "--out" => out = Some(PathBuf::from(value)),
            "--title" => title = Some(value),
            "--font" => font = PathBuf::from(value),
            _ => return Err(format!("unknown flag {flag}; {usage}")),
        }
    }
    match (dir, name, out) {
        (Some(dir), Some(name), Some(out)) => Ok(Args { dir, name, out, title, font }),
        _ => Err(format!("--dir, --name and --out are required; {usage}")),
    }
}

/// Reads the inputs and draws the PNG.
fn run(args: &Args) -> Result<(), String> {
    let font = std::fs::read(&args.font).map_err(|e| {
        format!(
            "cannot read the font {} ({e}); install fonts-dejavu-core or pass --font FILE.ttf",
            args.font.display()
        )
    })?;
    register_font("sans-serif", FontStyle::Normal, Box::leak(font.into_boxed_slice()))
        .map_err(|_| format!("{} is not a TrueType font we can read", args.font.display()))?;
    let read = |file: String| {
        let path = args.dir.join(file);
        std::fs::read_to_string(&path).map_err(|e| format!("cannot read {} ({e})", path.display()))
    };
    let rss = parse_rss(&read(format!("rss{}.csv", args.name))?);
    let log = parse_log(&read(format!("sync{}.err", args.name))?);
    if rss.is_empty() && log.progress.len() < 2 {
        return Err(format!(
            "no RSS rows and no progress lines for run {} in {}",
            args.name,
            args.dir.display()
        ));
    }
    let title = args.title.clone().unwrap_or_else(|| format!("Scale run {}", args.name));
    draw(&args.out, &title, &rss, &log)
        .map_err(|e| format!("cannot draw {} ({e})", args.out.display()))
}

/// Parses `rssNAME.csv` into (t, client GiB, server GiB); unreadable fields become `None`.
fn parse_rss(text: &str) -> Vec<RssRow> {
    let gib =
        |kb: Option<&str>| kb.and_then(|v| v.trim().parse::<f64>().ok()).map(|kb| kb / 1048576.0);
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(',');
            let t = fields.next()?.trim().parse::<f64>().ok()?;
            Some((t, gib(fields.next()), gib(fields.next())))
        })
        .collect()
}

/// Parses the sync log: every timestamped line with a cumulative `N MiB` before its first `|` is
/// a progress sample, every `phase: X` line a phase change.
fn parse_log(text: &str) -> Log {
    let mut log = Log::default();
    let mut t0 = None;
    for line in text.lines() {
        let Some(ts) = line.split_whitespace().next().and_then(parse_timestamp) else { continue };
        let t = ts - *t0.get_or_insert(ts);
        if let Some(phase) = line.split_once(" phase: ").map(|(_, p)| p.trim()) {
            log.phases.push((t, phase.to_string()));
            continue;
        }
        let head = line.split('|').next().unwrap_or("");
        let words: Vec<&str> = head.split_whitespace().collect();
        if let Some(i) = words.iter().position(|w| *w == "MiB")
            && let Some(mib) = i.checked_sub(1).and_then(|j| words[j].parse::<f64>().ok())
        {
            log.progress.push((t, mib));
        }
    }
    log
}

/// Seconds since 1970 of an RFC 3339 UTC timestamp such as `2026-12-07T19:33:52.632613Z`.
fn parse_timestamp(s: &str) -> Option<f64> {
    let (date, time) = s.strip_suffix('Z')?.split_once('T')?;
    let d: Vec<i64> = date.split('-').map(str::parse).collect::<Result<_, _>>().ok()?;
    let h: Vec<f64> = time.split(':').map(str::parse).collect::<Result<_, _>>().ok()?;
    let ([y, m, d], [hh, mm, ss]) = (<[i64; 3]>::try_from(d).ok()?, <[f64; 3]>::try_from(h).ok()?);
    // Days from civil (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let days = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
    Some(days as f64 * 86400.0 + hh * 3600.0 + mm * 60.0 + ss)
}

/// Cumulative MiB at `t`, linearly interpolated between samples (clamped at both ends).
fn cumulative_at(progress: &[(f64, f64)], t: f64) -> f64 {
    let i = progress.partition_point(|&(pt, _)| pt < t);
    match (progress.get(i.wrapping_sub(1)), progress.get(i)) {
        (Some(&(t1, v1)), Some(&(t2, v2))) if t2 > t1 => v1 + (v2 - v1) * (t - t1) / (t2 - t1),
        (_, Some(&(_, v))) | (Some(&(_, v)), None) => v,
        (None, None) => 0.0,
    }
}

/// Raw throughput (MiB/s between consecutive samples, drawn as steps) and the smoothed one
/// (cumulative MiB over a centred `SMOOTH_S` window, every second).
fn throughput(progress: &[(f64, f64)]) -> (Series, Series) {
    let mut raw = Vec::new();
    for w in progress.windows(2) {
        let ((t1, v1), (t2, v2)) = (w[0], w[1]);
        if t2 > t1 {
            let rate = ((v2 - v1) / (t2 - t1)).max(0.0);
            raw.extend([(t1, rate), (t2, rate)]);
        }
    }
    let (Some(first), Some(last)) = (progress.first(), progress.last()) else {
        return (raw, Vec::new());
    };
    let mut smooth = Vec::new();
    let mut t = first.0.ceil();
    while t <= last.0 {
        let (a, b) = ((t - SMOOTH_S / 2.0).max(first.0), (t + SMOOTH_S / 2.0).min(last.0));
        if b > a {
            smooth.push((
                t,
                ((cumulative_at(progress, b) - cumulative_at(progress, a)) / (b - a)).max(0.0),
            ));
        }
        t += 1.0;
    }
    (raw, smooth)
}

/// Draws the two panels into `out`.
fn draw(
    out: &std::path::Path,
    title: &str,
    rss: &[RssRow],
    log: &Log,
) -> Result<(), Box<dyn std::error::Error>> {
    let (raw, smooth) = throughput(&log.progress);
    let (rss_t, log_t) = (rss.iter().map(|r| r.0), log.progress.iter().map(|p| p.0));
    let times = rss_t.chain(log_t).chain(log.phases.iter().map(|p| p.0));
    let t_max = times.fold(10.0, f64::max) * 1.01;
    // Headroom above the highest raw step for the legend and the phase labels.
    let rate_max = raw.iter().map(|p| p.1).fold(1.0, f64::max) * 1.3;
    let rss_max = rss.iter().flat_map(|r| [r.1, r.2]).flatten().fold(0.5, f64::max) * 1.1;

    let root = BitMapBackend::new(out, (1200, 800)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 26))?;
    let (top, bottom) = root.split_vertically(390);

    let mut chart = ChartBuilder::on(&top)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..t_max, 0.0..rate_max)?;
    chart
        .configure_mesh()
        .y_desc("wire throughput, MiB/s")
        .x_label_formatter(&|t| format!("{t:.0}"))
        .label_style(("sans-serif", 15))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    chart
        .draw_series(LineSeries::new(raw, CLIENT.mix(0.35)))?
        .label("raw (between progress lines)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], CLIENT.mix(0.35)));
    chart
        .draw_series(LineSeries::new(smooth, CLIENT.stroke_width(2)))?
        .label(format!("smoothed over {SMOOTH_S} s"))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], CLIENT.stroke_width(2)));
    for (i, (t, phase)) in log.phases.iter().enumerate() {
        chart.draw_series(DashedLineSeries::new(
            [(*t, 0.0), (*t, rate_max)],
            6,
            4,
            PHASE.into(),
        ))?;
        // Phases often change within a second of each other: stagger their labels, and put
        // them left of the line near the right edge.
        let y = rate_max * (0.98 - 0.07 * (i % 3) as f64);
        let (text, h) = if *t > 0.8 * t_max {
            (format!("{phase} "), HPos::Right)
        } else {
            (format!(" {phase}"), HPos::Left)
        };
        let style = ("sans-serif", 15).into_font().color(&PHASE).pos(Pos::new(h, VPos::Top));
        chart.draw_series([Text::new(text, (*t, y), style)])?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()?;

    let mut chart = ChartBuilder::on(&bottom)
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..t_max, 0.0..rss_max)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the sync started")
        .y_desc("RSS, GiB")
        .x_label_formatter(&|t| format!("{t:.0}"))
        .label_style(("sans-serif", 15))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    for (t, _) in &log.phases {
        chart.draw_series(DashedLineSeries::new(
            [(*t, 0.0), (*t, rss_max)],
            6,
            4,
            PHASE.mix(0.5).into(),
        ))?;
    }
    let series = |pick: fn(&RssRow) -> Option<f64>| {
        rss.iter().filter_map(move |r| pick(r).map(|v| (r.0, v))).collect::<Vec<_>>()
    };
    for (label, color, points) in
        [("client RSS", CLIENT, series(|r| r.1)), ("server RSS", SERVER, series(|r| r.2))]
    {
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()?;
    root.present()?;
    Ok(())
}
