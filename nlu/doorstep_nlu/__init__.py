"""Doorstep's own Rasa components (run inside the Rasa 3.6 process, Python 3.10).

`config.yml` names them as `doorstep_nlu.<module>.<Class>`; Rasa puts its working
directory (`nlu/`) on the import path, so they load without being installed.
"""
