"""Getting a model from its source format to the format a compiler takes.

`routes` holds the graph of format converters and plans the path; `tensorflow_steps` holds the
converters that need TensorFlow (imported only inside a worker).
"""
