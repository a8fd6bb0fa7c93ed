package bench

import (
	"fmt"
	"html"
	"math"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"time"
)

type row struct {
	section, name, unit string
	vals                []float64
	target              string
	pass                func(float64) bool
}

type report struct {
	started time.Time
	rows    []row
	ratios  []ratioRow
	notes   []string
	// Medians kept for the VictoriaLogs ratios: events/s, CPU s per 1M
	// events, bytes on disk per raw byte.
	zlogIngest, zlogCPU, zlogDisk float64
	vlIngest, vlCPU, vlDisk       float64
}

type ratioRow struct {
	name  string
	value float64
	min   float64 // the target: at least this; 0 = none
}

func newReport() *report { return &report{started: time.Now()} }

func (r *report) add(section, name, unit string, vals []float64, target string, pass func(float64) bool) {
	r.rows = append(r.rows, row{section, name, unit, vals, target, pass})
}

// median is the median of a row added before, 0 when there is none.
func (r *report) median(section, name string) float64 {
	for _, row := range r.rows {
		if row.section == section && row.name == name {
			return median(row.vals)
		}
	}
	return 0
}

func (r *report) ratio(name string, v float64) { r.ratios = append(r.ratios, ratioRow{name, v, 0}) }

// ratioAtLeast is a ratio with a target: the table says whether it is met.
func (r *report) ratioAtLeast(name string, v, min float64) {
	r.ratios = append(r.ratios, ratioRow{name, v, min})
}
func (r *report) note(s string) { r.notes = append(r.notes, s) }

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percentile by nearest rank.
func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case math.Abs(v) >= 1000:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func command(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return "unavailable"
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}

// bySection is the rows grouped by section, sections in the order they
// first appear: rows of one section added at different times (logq's
// before VictoriaLogs') print under one heading.
func (r *report) bySection() []row {
	var order []string
	rows := map[string][]row{}
	for _, x := range r.rows {
		if _, seen := rows[x.section]; !seen {
			order = append(order, x.section)
		}
		rows[x.section] = append(rows[x.section], x)
	}
	var out []row
	for _, s := range order {
		out = append(out, rows[s]...)
	}
	return out
}

func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# zlog benchmark results\n\n")
	fmt.Fprintf(&b, "Written by `make bench` on %s (took %s). Each value is the median of the runs, with min–max; ratios compare medians.\n\n",
		r.started.UTC().Format("2006-01-02 15:04 MST"), time.Since(r.started).Round(time.Second))
	fmt.Fprintf(&b, "Machine: %d cores, %s; %s; %s. Versions: %s; libzmq %s; %s; %s; %s.\n\n",
		runtime.NumCPU(), memTotal(), command("uname", "-sr"), cpuModel(), runtime.Version(),
		command("pkg-config", "--modversion", "libzmq"), command("rg", "--version"), command("grep", "--version"), "wrk "+command("dpkg-query", "-W", "-f", "${Version}", "wrk"))
	section := ""
	for _, row := range r.bySection() {
		if row.section != section {
			section = row.section
			fmt.Fprintf(&b, "\n## %s\n\n| measurement | median | min – max | unit | target | |\n|---|---:|---:|---|---|---|\n", section)
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, v := range row.vals {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		med := median(row.vals)
		verdict := ""
		if row.pass != nil {
			if row.pass(med) {
				verdict = "met"
			} else {
				verdict = "**missed**"
			}
		}
		spread := num(lo) + " – " + num(hi)
		if len(row.vals) == 1 {
			spread = "(one value)"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", row.name, num(med), spread, row.unit, row.target, verdict)
	}
	if len(r.ratios) > 0 {
		fmt.Fprintf(&b, "\n## Ratios (chart: ratios.svg)\n\n| comparison | ratio | target | |\n|---|---:|---|---|\n")
		for _, x := range r.ratios {
			target, verdict := "", ""
			if x.min > 0 {
				target, verdict = ">= "+num(x.min), "met"
				if !(x.value >= x.min) {
					verdict = "**missed**"
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", x.name, num(x.value), target, verdict)
		}
	}
	for _, n := range r.notes {
		fmt.Fprintf(&b, "\n%s\n", n)
	}
	return b.String()
}

func memTotal() string {
	data, _ := os.ReadFile("/proc/meminfo")
	var kb float64
	fmt.Sscanf(strings.SplitN(string(data), "\n", 2)[0], "MemTotal: %f kB", &kb)
	return fmt.Sprintf("%.0f GiB", kb/1024/1024)
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "model name") {
			return strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
		}
	}
	return "unknown CPU"
}

// svg draws the ratios as horizontal bars on a log scale around 1×.
func (r *report) svg() string {
	const width, rowH, left = 980, 26, 430
	h := 60 + rowH*len(r.ratios)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`, width, h)
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="14">zlog benchmark ratios (log scale; right of the line = zlog better)</text>`)
	scale := func(v float64) float64 { // 0.01× … 100×
		x := math.Log10(math.Max(math.Min(v, 100), 0.01))
		return left + (x+2)/4*float64(width-left-20)
	}
	one := scale(1)
	fmt.Fprintf(&b, `<line x1="%.0f" y1="30" x2="%.0f" y2="%d" stroke="#333"/>`, one, one, h-10)
	for _, tick := range []float64{0.01, 0.1, 1, 10, 100} {
		fmt.Fprintf(&b, `<text x="%.0f" y="%d" text-anchor="middle" fill="#666">%g×</text>`, scale(tick), h-2, tick)
	}
	for i, x := range r.ratios {
		y := 40 + i*rowH
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, left-8, y+13, html.EscapeString(x.name))
		x0, x1 := math.Min(one, scale(x.value)), math.Max(one, scale(x.value))
		color := "#2a9d8f"
		if x.value < 1 {
			color = "#e76f51"
		}
		fmt.Fprintf(&b, `<rect x="%.0f" y="%d" width="%.0f" height="16" fill="%s"/>`, x0, y, math.Max(x1-x0, 1), color)
		fmt.Fprintf(&b, `<text x="%.0f" y="%d" fill="#000">%s×</text>`, x1+4, y+13, num(x.value))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func (r *report) write(mdPath, svgPath string) error {
	if err := os.WriteFile(mdPath, []byte(r.markdown()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(svgPath, []byte(r.svg()), 0o644)
}
