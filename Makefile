# Every target builds .venv itself (Python >= 3.12 found by .ci/find-python).
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
OUT     ?= out/default

.PHONY: setup chromium run test bench figures figures-posterior calibration clean

$(STAMP): pyproject.toml .ci/find-python
	@PYBIN=$$(.ci/find-python) || exit 1; \
	  test -x $(PY) || $$PYBIN -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,app,dask,calibrate]'
	@touch $(STAMP)

setup: $(STAMP)

# Debian's chromium for the browser test (tests/test_app_browser.py drives it with Playwright;
# Playwright's own browser download cannot be used here).  Installed when missing and apt-get
# can be run (as root, or with password-less sudo); otherwise the test is skipped and says why.
CHROMIUM ?= /usr/bin/chromium

chromium:                ## install Debian's chromium for the browser test, if missing
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
	  echo "make: no $(CHROMIUM) and no apt-get: tests/test_app_browser.py will be skipped"; \
	else \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	  else echo "make: no $(CHROMIUM) and apt-get needs root: tests/test_app_browser.py will be skipped"; exit 0; fi; \
	  echo "make: installing Debian's chromium for the browser test (apt-get)"; \
	  ( $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null ) \
	    || echo "make: apt-get could not install chromium: tests/test_app_browser.py will be skipped"; \
	fi

run: $(STAMP)            ## set up, run the default scenario, write summary + plots to $(OUT)
	$(VENV)/bin/gridsim run scenarios/default.yaml --out $(OUT)

test: $(STAMP) chromium  ## set up and run the test suite
	$(PY) -m pytest -q

bench: $(STAMP)          ## performance benchmark (issue: city scale)
	$(VENV)/bin/gridsim bench --json out/bench/bench.json

clean:
	rm -rf $(VENV) out .pytest_cache

# ---- figures (issue 5): the canonical experiments swept at a modest scale, plotted, and the
# key curves copied to docs/figures/, with docs/figures/MODEL_CODE.json saying which model code
# made them (issue 14: a test fails when the model has changed since).  Sweeps resume, so a second `make figures` only plots;
# a sweep made by another experiment definition or other model code is moved to
# out/sweeps/<name>.prev and run afresh (--replace).
FIG_SCALE ?= 0.5
FIG_DAYS  ?= 365
FIG_EXPS  := grid_size fulltime_ratio cameras levers_lhs
# what `figures` copies into docs/figures/ (stamped with the sweeps' model code: tests/test_figures_stamp.py)
FIG_FILES := $(addprefix docs/figures/,grid_size_curves.png grid_size_threshold.png grid_size_daily.png \
               fulltime_ratio_curves.png cameras_curves.png lhs_residents_per_grid.png lhs_fulltime_ratio.png \
               lhs_camera_coverage.png grid_size_thresholds.csv grid_size_paired.png fulltime_ratio_paired.png \
               cameras_paired.png cost_per_point.md cost_per_point.csv)

figures: $(STAMP)        ## sweep the canonical experiments, plot them, copy the key curves to docs/figures/
	@set -e; for e in $(FIG_EXPS); do \
	  $(VENV)/bin/gridsim sweep experiments/$$e.yaml --out out/sweeps/$$e --scale $(FIG_SCALE) --days $(FIG_DAYS) --replace --quiet; \
	  $(VENV)/bin/gridsim plot out/sweeps/$$e; \
	done
	@mkdir -p docs/figures
	cp out/sweeps/grid_size/plots/curves_residents_per_grid.png docs/figures/grid_size_curves.png
	cp out/sweeps/grid_size/plots/threshold_residents_per_grid.png docs/figures/grid_size_threshold.png
	cp out/sweeps/grid_size/plots/daily_residents_per_grid.png docs/figures/grid_size_daily.png
	cp out/sweeps/fulltime_ratio/plots/curves_fulltime_ratio.png docs/figures/fulltime_ratio_curves.png
	cp out/sweeps/cameras/plots/curves_camera_coverage.png docs/figures/cameras_curves.png
	cp out/sweeps/levers_lhs/plots/curves_residents_per_grid.png docs/figures/lhs_residents_per_grid.png
	cp out/sweeps/levers_lhs/plots/curves_fulltime_ratio.png docs/figures/lhs_fulltime_ratio.png
	cp out/sweeps/levers_lhs/plots/curves_camera_coverage.png docs/figures/lhs_camera_coverage.png
	cp out/sweeps/grid_size/plots/thresholds.csv docs/figures/grid_size_thresholds.csv
	cp out/sweeps/grid_size/plots/paired_residents_per_grid.png docs/figures/grid_size_paired.png
	cp out/sweeps/fulltime_ratio/plots/paired_fulltime_ratio.png docs/figures/fulltime_ratio_paired.png
	cp out/sweeps/cameras/plots/paired_camera_coverage.png docs/figures/cameras_paired.png
	$(PY) experiments/cost_per_point.py out/sweeps --out docs/figures/cost_per_point.md --csv docs/figures/cost_per_point.csv
	$(PY) -m sim.experiments.stamp docs/figures/MODEL_CODE.json $(addprefix out/sweeps/,$(FIG_EXPS)) \
	  --command "make figures FIG_SCALE=$(FIG_SCALE) FIG_DAYS=$(FIG_DAYS)" --files $(FIG_FILES)

# ---- the Guigang posterior (issue 13): the full ABC-SMC fit (resumes if interrupted: run it again),
# then published to docs/calibration/guigang_2015 (what validation and figures-posterior read by default).
CAL_OUT := out/calibration/guigang_2015
calibration: $(STAMP)    ## fit targets/guigang_2015.yaml (ABC-SMC, ~30-40 min on 2 idle cores) and publish it to docs/calibration/
	$(VENV)/bin/gridsim calibrate targets/guigang_2015.yaml --workers 2 --out $(CAL_OUT)
	@mkdir -p docs/calibration/guigang_2015
	cp $(CAL_OUT)/*.parquet $(CAL_OUT)/*.json $(CAL_OUT)/*.csv $(CAL_OUT)/*.png $(CAL_OUT)/abc.db docs/calibration/guigang_2015/

# ---- the same one-lever sweeps over the calibration's posterior (issue 13): one posterior draw per
# replicate, the same at every point; bands over draws and replicates; the cost table with 90 %
# intervals over draws and P(one lever buys a point more cheaply than another).
POSTERIOR ?= docs/calibration/guigang_2015
POST_REPS ?= 40
POST_EXPS := grid_size fulltime_ratio cameras
# what `figures-posterior` writes into docs/figures/ (stamped: tests/test_figures_stamp.py)
POST_FILES := $(addprefix docs/figures/,grid_size_curves_posterior.png fulltime_ratio_curves_posterior.png \
                cameras_curves_posterior.png grid_size_paired_posterior.png fulltime_ratio_paired_posterior.png \
                cameras_paired_posterior.png cost_per_point_posterior.md cost_per_point_posterior.csv)

figures-posterior: $(STAMP)  ## the one-lever sweeps over $(POSTERIOR), their plots, the cost table with 90 % intervals
	@test -f $(POSTERIOR)/posterior.parquet || { echo "make: no $(POSTERIOR)/posterior.parquet: run gridsim calibrate first, or give POSTERIOR=DIR"; exit 2; }
	@set -e; for e in $(POST_EXPS); do \
	  $(VENV)/bin/gridsim sweep experiments/posterior/$$e.yaml --posterior $(POSTERIOR) --replicates $(POST_REPS) --out out/sweeps-posterior/$$e --scale $(FIG_SCALE) --days $(FIG_DAYS) --replace --quiet; \
	  $(VENV)/bin/gridsim plot out/sweeps-posterior/$$e; \
	done
	@mkdir -p docs/figures
	$(PY) experiments/cost_per_point.py out/sweeps-posterior --out docs/figures/cost_per_point_posterior.md --csv docs/figures/cost_per_point_posterior.csv
	cp out/sweeps-posterior/grid_size/plots/curves_residents_per_grid.png docs/figures/grid_size_curves_posterior.png
	cp out/sweeps-posterior/grid_size/plots/paired_residents_per_grid.png docs/figures/grid_size_paired_posterior.png
	cp out/sweeps-posterior/fulltime_ratio/plots/paired_fulltime_ratio.png docs/figures/fulltime_ratio_paired_posterior.png
	cp out/sweeps-posterior/cameras/plots/paired_camera_coverage.png docs/figures/cameras_paired_posterior.png
	cp out/sweeps-posterior/fulltime_ratio/plots/curves_fulltime_ratio.png docs/figures/fulltime_ratio_curves_posterior.png
	cp out/sweeps-posterior/cameras/plots/curves_camera_coverage.png docs/figures/cameras_curves_posterior.png
	$(PY) -m sim.experiments.stamp docs/figures/MODEL_CODE_POSTERIOR.json $(addprefix out/sweeps-posterior/,$(POST_EXPS)) \
	  --command "make figures-posterior POSTERIOR=$(POSTERIOR) POST_REPS=$(POST_REPS) FIG_SCALE=$(FIG_SCALE) FIG_DAYS=$(FIG_DAYS)" --files $(POST_FILES)
