
set terminal pngcairo size 900,500 noenhanced
set output 'iops_vs_qd.png'
set title '4 KiB random I/O, hot cache: IOPS vs queue depth (iscsi-loadgen, median of rounds)'
set xlabel 'queue depth'
set ylabel 'IOPS'
set logscale x 2
set yrange [0:*]
set key top left
set grid
plot 'iops_vs_qd.dat' using 1:2 with linespoints lw 2 title 'tgt randread', \
     '' using 1:3 with linespoints lw 2 title 'swiftness randread', \
     '' using 1:4 with linespoints lw 2 dt 2 title 'tgt randwrite', \
     '' using 1:5 with linespoints lw 2 dt 2 title 'swiftness randwrite'
unset logscale x
set yrange [*:*]
set output 'latency.png'
set title 'Latency percentiles, hot cache (microseconds, log scale)'
set xlabel ''
set ylabel 'us'
set logscale y
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set xtics rotate by -30
set key top left
plot 'latency.dat' using 2:xtic(1) title 'tgt p50', '' using 3 title 'swiftness p50', \
     '' using 4 title 'tgt p99', '' using 5 title 'swiftness p99', \
     '' using 6 title 'tgt p99.9', '' using 7 title 'swiftness p99.9'
