"""The processor registry (``models``): each processor's profile and filed transfer mechanisms, and the list of
restricted recipients. Written through the API's ``/v1/registry`` to the compacted ``processor-registry`` topic;
read by the detector's agents (a Faust global table) and indexed for the API and the UI.
"""
