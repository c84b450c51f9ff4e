//! The browser-only half of the overview: CPU traces drawn on canvases, and the timing
//! of each frame's update.

use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

/// CSS size of a trace; the canvas holds this times the device pixel ratio.
const CSS_W: f64 = 112.0;
const CSS_H: f64 = 24.0;

fn dark() -> bool {
    leptos::prelude::window()
        .match_media("(prefers-color-scheme: dark)")
        .ok()
        .flatten()
        .is_some_and(|m| m.matches())
}

/// Draws `values` (percent, oldest first) as a line with a light fill, scaled to 0–100,
/// the newest value at the right edge. One trace is as wide as [`super::fleet::TRACE_KEEP`]
/// points, so traces of hosts that report at the same rate line up.
pub fn draw(canvas: &HtmlCanvasElement, values: &[f32]) {
    let window = leptos::prelude::window();
    let ratio = window.device_pixel_ratio().max(1.0);
    let (w, h) = ((CSS_W * ratio).round(), (CSS_H * ratio).round());
    if f64::from(canvas.width()) != w || f64::from(canvas.height()) != h {
        canvas.set_width(w as u32);
        canvas.set_height(h as u32);
    }
    let Some(ctx) = canvas
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|c| c.dyn_into::<CanvasRenderingContext2d>().ok())
    else {
        return;
    };
    ctx.clear_rect(0.0, 0.0, w, h);
    if values.is_empty() {
        return;
    }
    let stroke = if dark() { "#2dd4bf" } else { "#0f766e" };
    let fill = if dark() {
        "rgba(45, 212, 191, 0.16)"
    } else {
        "rgba(15, 118, 110, 0.12)"
    };
    let pad = ratio;
    let step = (w - 2.0 * pad) / (super::fleet::TRACE_KEEP.saturating_sub(1).max(1)) as f64;
    let x0 = w - pad - step * (values.len().saturating_sub(1)) as f64;
    let y = |v: f32| pad + (h - 2.0 * pad) * (1.0 - (f64::from(v) / 100.0).clamp(0.0, 1.0));
    ctx.begin_path();
    for (i, v) in values.iter().enumerate() {
        let x = x0 + step * i as f64;
        if i == 0 {
            ctx.move_to(x, y(*v));
        } else {
            ctx.line_to(x, y(*v));
        }
    }
    ctx.set_line_width(1.5 * ratio);
    ctx.set_line_join("round");
    ctx.set_stroke_style_str(stroke);
    ctx.stroke();
    ctx.line_to(w - pad, h);
    ctx.line_to(x0, h);
    ctx.close_path();
    ctx.set_fill_style_str(fill);
    ctx.fill();
}

/// The time from a frame's arrival to the end of the re-render it causes, recorded as a
/// `performance.measure` that benchmarks read back by name.
pub struct Timing;

const START_MARK: &str = "lookout:overview-frame";
/// Measures kept before the oldest are cleared, so a wall display does not grow forever.
const KEEP_MEASURES: u32 = 10_000;

thread_local! {
    static TAKEN: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

impl Timing {
    pub fn start() -> Self {
        if let Some(p) = leptos::prelude::window().performance() {
            let _ = p.mark(START_MARK);
        }
        Self
    }

    /// Waits for the effects the update scheduled (the re-render and the canvases),
    /// then measures.
    pub fn finish_after_render(self, name: &'static str) {
        leptos::task::spawn_local(async move {
            leptos::task::tick().await;
            let Some(p) = leptos::prelude::window().performance() else {
                return;
            };
            let taken = TAKEN.with(|t| {
                t.set(t.get() + 1);
                t.get()
            });
            if taken > KEEP_MEASURES {
                p.clear_measures_with_measure_name(name);
                TAKEN.with(|t| t.set(1));
            }
            let _ = p.measure_with_start_mark(name, START_MARK);
            p.clear_marks_with_mark_name(START_MARK);
        });
    }
}
