"""Control of the streaming ingest job, run by Airflow (``bikeshare_stream``) and ``make stream-*``.

:mod:`~include.beam.control.job` holds the types every backend shares; :mod:`~include.beam.control.job_control`
picks the backend (:mod:`~include.beam.control.stream_local`, :mod:`~include.beam.control.stream_dataflow`);
:mod:`~include.beam.control.launch` turns the settings into the pipeline's argv;
:mod:`~include.beam.control.stream_health` judges what the pipeline wrote. None of it imports Beam
or runs on the workers: the pipeline is started as a process (:mod:`include.beam.pipeline`).
"""
