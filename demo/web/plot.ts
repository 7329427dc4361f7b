// SPDX-License-Identifier: MIT
/**
 * plot.ts: a small line plot over time on a canvas, for the browser demo.
 *
 * What it is: series of (t, value) samples drawn as lines, the y axis from 0
 * to the largest value seen (or a fixed maximum), the x axis the seconds
 * since the run started, with a legend line above. What it is not: a chart
 * library; it redraws everything on each sample (a few hundred points).
 *
 * A series whose value is undefined in a sample (not measured yet) has a gap
 * there. Main thread only.
 * @module
 */

/** One line of a plot. */
export interface Series {
  /** Property of the sample objects holding this line's value. */
  key: string;
  label: string;
  color: string;
  /** Canvas line dash, e.g. [5, 3]. */
  dash?: number[];
}

const PAD_LEFT = 44, PAD_RIGHT = 8, PAD_TOP = 8, PAD_BOTTOM = 18;

/** A line plot of samples over time. */
export class Plot {
  private readonly ctx: CanvasRenderingContext2D;
  private readonly samples: Array<{ t: number; v: Record<string, number | undefined> }> = [];

  /**
   * @param canvas - where to draw; its width/height attributes set the size.
   * @param unit - the y axis' name.
   * @param fixedMax - y axis maximum (else the largest value seen).
   */
  constructor(private readonly canvas: HTMLCanvasElement, private readonly unit: string, private readonly series: Series[], private readonly fixedMax?: number) {
    this.ctx = canvas.getContext("2d")!;
    const legend = document.createElement("div");
    legend.className = "plot-legend";
    legend.innerHTML = series.map((s) => `<span style="border-color:${s.color};border-style:${s.dash ? "dashed" : "solid"}"></span>${s.label}`).join("");
    canvas.before(legend);
    this.draw();
  }

  /** Forget every sample (a new run). */
  clear(): void {
    this.samples.length = 0;
    this.draw();
  }

  /** Add a sample: `t` in seconds, one value per series key. */
  add(sample: Record<string, number | undefined> & { t: number }): void {
    this.samples.push({ t: sample.t, v: sample });
    this.draw();
  }

  /** Points drawn so far (samples with at least one value). */
  get points(): number { return this.samples.length; }

  private draw(): void {
    const { ctx, canvas } = this;
    const w = canvas.width, h = canvas.height;
    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, w, h);
    const tMax = Math.max(5, ...this.samples.map((s) => s.t));
    let yMax = this.fixedMax ?? 0;
    if (this.fixedMax === undefined) for (const s of this.samples) for (const l of this.series) yMax = Math.max(yMax, s.v[l.key] ?? 0);
    if (yMax <= 0) yMax = 1;
    const x = (t: number): number => PAD_LEFT + (t / tMax) * (w - PAD_LEFT - PAD_RIGHT);
    const y = (v: number): number => h - PAD_BOTTOM - (v / yMax) * (h - PAD_TOP - PAD_BOTTOM);
    // Axes and labels.
    ctx.strokeStyle = "#bbb";
    ctx.lineWidth = 1;
    ctx.setLineDash([]);
    ctx.beginPath();
    ctx.moveTo(PAD_LEFT, PAD_TOP); ctx.lineTo(PAD_LEFT, h - PAD_BOTTOM); ctx.lineTo(w - PAD_RIGHT, h - PAD_BOTTOM);
    ctx.stroke();
    ctx.fillStyle = "#666";
    ctx.font = "10px system-ui, sans-serif";
    ctx.textAlign = "right";
    const top = yMax >= 10 ? Math.round(yMax) : Number(yMax.toFixed(2));
    ctx.fillText(String(top), PAD_LEFT - 4, PAD_TOP + 8);
    ctx.fillText("0", PAD_LEFT - 4, h - PAD_BOTTOM);
    ctx.save();
    ctx.translate(10, (h - PAD_BOTTOM) / 2 + PAD_TOP);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center";
    ctx.fillText(this.unit, 0, 0);
    ctx.restore();
    ctx.textAlign = "center";
    ctx.fillText(`${tMax.toFixed(0)} s`, w - PAD_RIGHT - 10, h - 4);
    ctx.fillText("time", (PAD_LEFT + w) / 2, h - 4);
    // Lines.
    ctx.lineWidth = 2;
    for (const l of this.series) {
      ctx.strokeStyle = l.color;
      ctx.setLineDash(l.dash ?? []);
      ctx.beginPath();
      let pen = false;
      for (const s of this.samples) {
        const v = s.v[l.key];
        if (v === undefined || !Number.isFinite(v)) { pen = false; continue; }
        if (pen) ctx.lineTo(x(s.t), y(v)); else { ctx.moveTo(x(s.t), y(v)); pen = true; }
      }
      ctx.stroke();
    }
    ctx.setLineDash([]);
  }
}
